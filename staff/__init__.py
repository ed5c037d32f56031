"""The staff web app of 银龄助手: accounts, the agents' console (human handoff, call assist) and the KB admin API.

App runtime (.venv, Python 3.11): FastAPI served by uvicorn, SQLAlchemy 2 for its database,
Rasa reached only through Rasa's own HTTP API. ``python -m staff --help`` lists the commands.
"""
