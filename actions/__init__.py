"""The action server of 银龄助手 (rasa-sdk, runs in .venv): one module per concern."""
