# Report training to Weights & Biases.
resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "with_wandb" {
  model         = "gpt-4o-mini"
  training_file = openai_file.train.id

  integrations {
    type = "wandb"
    wandb {
      project = "my-wandb-project"
      name    = "ft-run-display-name"
      tags    = ["first-experiment", "v2"]
    }
  }
}
