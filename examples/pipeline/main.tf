# Two stages: supervised fine-tuning, then preference tuning (DPO) that starts from the
# supervised job's model. The DPO job refers to that model, so ftctl creates it only once the
# supervised job has succeeded: `ftctl apply` waits for it, showing its progress.

variable "base_model" {
  type    = string
  default = "gpt-4o-mini-2024-07-18"
}

resource "openai_file" "sft" {
  file = "data/sft.jsonl"
}

resource "openai_file" "preferences" {
  file = "data/preferences.jsonl"
}

resource "openai_fine_tuning_job" "sft" {
  model         = var.base_model
  training_file = openai_file.sft.id
  suffix        = "support-sft"

  method {
    type = "supervised"
  }
}

resource "openai_fine_tuning_job" "dpo" {
  model         = openai_fine_tuning_job.sft.fine_tuned_model
  training_file = openai_file.preferences.id
  suffix        = "support-dpo"

  method {
    type = "dpo"
    dpo {
      hyperparameters {
        beta = 0.1
      }
    }
  }
}

output "sft_model" {
  value = openai_fine_tuning_job.sft.fine_tuned_model
}

output "final_model" {
  description = "The model to deploy: the DPO stage's result."
  value       = openai_fine_tuning_job.dpo.fine_tuned_model
}
