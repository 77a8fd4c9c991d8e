"""The API ftctl drives, as a small protocol; `openai_api` implements it with the official SDK
(imported lazily: commands that make no call never pay for it)."""
