"""ftctl: Terraform's plan/apply loop for OpenAI fine-tuning jobs."""

__version__ = "0.1.0"
