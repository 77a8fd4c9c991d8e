"""A local stand-in for the OpenAI Files and Fine-tuning API, served over real HTTP.

The core of ftctl never imports this package; tests, the demo and users start it as a server
and point the real `openai` SDK at it through `base_url`.
"""
