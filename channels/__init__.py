"""Rasa InputChannel connectors for 银龄助手 (run inside the Rasa server, .venv-rasa)."""
