"""Rasa pipeline components named in config.yml: part of every trained model (their module paths are in its fingerprint)."""
