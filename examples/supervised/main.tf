# Supervised fine-tuning with explicit hyperparameters.
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "supervised" {
  model         = "gpt-4o-mini"
  training_file = openai_file.train.id

  method {
    type = "supervised"
    supervised {
      hyperparameters {
        n_epochs                 = 3
        batch_size               = 8
        learning_rate_multiplier = 0.1
      }
    }
  }
}
