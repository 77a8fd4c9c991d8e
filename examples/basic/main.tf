# The seed's basic example, with its training file uploaded by ftctl.
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "basic" {
  model         = "gpt-4o-mini"
  training_file = openai_file.train.id
  suffix        = "my-custom-model-v1"
}
