"""The Terraform language as ftctl reads it: .tf files to a syntax tree, then to values."""
