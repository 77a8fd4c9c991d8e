"""Presentation: human (rich) and machine (JSON) renderings of ftctl's values."""
