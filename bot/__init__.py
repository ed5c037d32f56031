"""Rasa-side Python for 银龄助手: custom NLU components and tools (runs in .venv-rasa)."""
