from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL") or DEFAULT_PG
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = _postgres_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests, but no server answered at DATABASE_URL or 127.0.0.1:5432")
        pytest.skip("no PostgreSQL server reachable (set DATABASE_URL or start one on 127.0.0.1:5432)")
    return url


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema per test, dropped afterwards."""
    schema = f"kbtest_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


# -- the running servers, shared by every end-to-end test of the session ---------------------

from scripts.stack import Stack, free_port, train_model  # noqa: E402

ADMIN_TOKEN = "e2e-admin-token-0123456789"


@pytest.fixture(scope="session")
def kb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.sqlite'}"


@pytest.fixture(scope="session")
def bookings_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('bookings') / 'bookings.sqlite'}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, kb_url: str, bookings_url: str) -> Iterator[Stack]:
    """Both real servers on free loopback ports, with a model trained once (bot.train)."""
    model = train_model()
    work = tmp_path_factory.mktemp("stack")
    running = Stack(
        model=model,
        rasa_port=free_port(),
        action_port=free_port(),
        workdir=work,
        log_dir=work / "logs",
        extra_env={
            "KB_DATABASE_URL": kb_url,
            "BOOKINGS_DATABASE_URL": bookings_url,
            "YINLING_TRACKER_DB": str(work / "tracker.sqlite"),
        },
    )
    try:
        running.start(timeout=600)
    except Exception:
        for log in (work / "logs").glob("*.log"):
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        running.stop()
        raise
    yield running
    running.stop()


@pytest.fixture(scope="session")
def admin(stack: Stack, kb_url: str) -> Iterator[str]:
    from knowledge_base.api import AdminServer
    from knowledge_base.store import KBStore

    server = AdminServer(("127.0.0.1", free_port()), KBStore(kb_url), ADMIN_TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [str(r["text"]) for r in replies if r.get("text")]


def kb_entry(replies: list[dict[str, Any]]) -> str | None:
    return next((r["custom"]["kb_entry"] for r in replies if isinstance(r.get("custom"), dict)), None)


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"
