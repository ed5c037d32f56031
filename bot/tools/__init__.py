"""Command-line tools over the Rasa runtime: train (when the fingerprint changed), evaluate (NLU scores for the bench), convert (public datasets to Rasa YAML)."""
