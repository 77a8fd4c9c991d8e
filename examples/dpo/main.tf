# Direct preference optimisation: data in the API's preference format
# (input, preferred_output, non_preferred_output).
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_file" "validation" {
  file = "data/validation.jsonl"
}

resource "openai_fine_tuning_job" "dpo" {
  model           = "gpt-4o-mini"
  training_file   = openai_file.train.id
  validation_file = openai_file.validation.id

  method {
    type = "dpo"
    dpo {
      hyperparameters {
        beta = 0.1
      }
    }
  }
}
