# A learning-rate sweep: one job per multiplier, from one block with for_each.
# Add or remove a key to start or cancel exactly that job.

variable "base_model" {
  type    = string
  default = "gpt-4o-mini-2024-07-18"
}

variable "learning_rates" {
  description = "Learning-rate multipliers to try, by the name each job's instance gets."
  type        = map(number)
  default = {
    "lr-0.5" = 0.5
    "lr-1"   = 1
    "lr-2"   = 2
  }

  validation {
    condition     = min(values(var.learning_rates)...) > 0
    error_message = "Every learning-rate multiplier must be greater than 0."
  }
}

locals {
  experiment = "lr-sweep"
}

resource "openai_file" "train" {
  file = "${path.module}/data/train.jsonl"
}

resource "openai_fine_tuning_job" "sweep" {
  for_each = var.learning_rates

  model         = var.base_model
  training_file = openai_file.train.id
  suffix        = "${local.experiment}-${each.key}"
  metadata = {
    experiment = local.experiment
    lr         = tostring(each.value)
  }

  method {
    type = "supervised"
    supervised {
      hyperparameters {
        n_epochs                 = 3
        learning_rate_multiplier = each.value
      }
    }
  }
}

output "models" {
  description = "Each sweep key's fine-tuned model, known once its job has succeeded."
  value       = { for key, job in openai_fine_tuning_job.sweep : key => job.fine_tuned_model }
}
