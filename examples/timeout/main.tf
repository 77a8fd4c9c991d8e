# Cancel the job if it has not finished an hour after it was created. ftctl enforces this
# whenever it runs (plan, apply): OpenAI itself knows nothing of the deadline.
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "with_timeout" {
  model                = "gpt-4o-mini"
  training_file        = openai_file.train.id
  cancel_after_timeout = 3600 # Cancel after 1 hour
}
