# The two-minute tour: upload a JSONL file, fine-tune on it.
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "support" {
  model         = "gpt-4o-mini"
  training_file = openai_file.train.id
  suffix        = "support-v1"
  metadata      = { team = "support" }
}
