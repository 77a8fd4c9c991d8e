"""One module per resource type: its schema, its checks, and what ftctl sends for it."""
