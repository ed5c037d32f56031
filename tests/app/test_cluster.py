"""The cluster of ``make run-cluster`` with its real servers: nginx, 2 Rasa replicas, 2 action servers,
PostgreSQL (tracker store, knowledge base, bookings) and Redis (lock store, channel dedup).

Started once for the module from deploy/systemd/*.service, deploy/nginx.conf.tmpl and
deploy/endpoints.cluster.yml (scripts/cluster.py). The replica kill comes last: it leaves one replica.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bookings.catalog import SHANGHAI
from bookings.store import BookingStore
from knowledge_base.store import KBStore
from scripts.cluster import Cluster, Postgres
from scripts.stack import train_model

pytestmark = pytest.mark.e2e

CODE = re.compile(r"预约号：(\d{3} \d{3})")
APOLOGY_START = "抱歉，系统刚才有点忙"  # channels/guard.py: a turn that failed
KB_QUESTIONS = (
    "我想问问长护险哪能申请",
    "立遗嘱要去公证处吗",
    "沪惠保哪能买",
    "助餐点哪能办卡",
)
CONVERSATIONS = 200


def _redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Cluster]:
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("CI must run the cluster tests, but no Redis answered at 127.0.0.1:6379")
        pytest.skip("no Redis server at 127.0.0.1:6379")
    model = train_model()
    work = tmp_path_factory.mktemp("cluster")
    running = Cluster.isolated(
        model,
        work,
        pg=postgres_url,
        extra_env={
            # Tests send far faster than any person, all from one address (the limits have tests of their own).
            "YINLING_RATE_SENDER": "0",
            "YINLING_RATE_IP": "0",
            # 200 conversations at once on 2 shared cores queue far longer than anyone would wait; the
            # test is about every message being answered, in order, so an action may wait its turn.
            "YINLING_ACTION_TIMEOUT": "120",
        },
    )
    try:
        running.start(timeout=600)
    except Exception:
        _print_logs(work)
        running.stop(drop_databases=True)
        raise
    yield running
    running.stop(drop_databases=True)


def _print_logs(work: Path) -> None:
    for log in sorted((work / "logs").glob("*.log")):
        print(f"==== {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def texts(replies: Any) -> list[str]:
    if not isinstance(replies, list):
        return []
    return [str(r["text"]) for r in replies if isinstance(r, dict) and r.get("text")]


def kb_entry(replies: Any) -> str | None:
    for reply in replies if isinstance(replies, list) else []:
        custom = reply.get("custom") if isinstance(reply, dict) else None
        if isinstance(custom, dict) and custom.get("kb_entry"):
            return str(custom["kb_entry"])
    return None


def say(cluster: Cluster, sender: str, text: str, port: int | None = None) -> str:
    url = cluster.replica_url(port) if port else None
    reply = "\n".join(texts(cluster.say(sender, text, url)))
    assert reply and not reply.startswith(APOLOGY_START), f"{text!r} got {reply!r}"
    return reply


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process and its waited-for children, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15])


def user_turns(cluster: Cluster, senders: list[str]) -> dict[str, list[str]]:
    """Each conversation's user messages, in the order the tracker store holds them."""
    pg = Postgres.parse(cluster.pg)
    found: dict[str, list[str]] = {s: [] for s in senders}
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password or None, dbname=cluster.databases["tracker"]
    ) as conn:
        rows = conn.execute(
            "SELECT sender_id, data FROM events WHERE type_name = 'user' AND sender_id = ANY(%s) ORDER BY id",
            (senders,),
        ).fetchall()
    import json

    for sender, data in rows:
        found[sender].append(json.loads(data)["text"])
    return found


def collapse_repeats(turns: list[str]) -> list[str]:
    """The turns with a message repeated right after itself counted once."""
    return [turn for i, turn in enumerate(turns) if i == 0 or turn != turns[i - 1]]


async def _conversations(
    cluster: Cluster, scripts: dict[str, list[str]], timeout: float = 180.0
) -> tuple[dict[str, list[Any]], list[str]]:
    """Every conversation at once, each sending its messages one after another; replies and problems."""
    replies: dict[str, list[Any]] = {s: [] for s in scripts}
    problems: list[str] = []
    limits = httpx.Limits(max_connections=len(scripts), max_keepalive_connections=len(scripts))
    async with httpx.AsyncClient(
        limits=limits, timeout=timeout, trust_env=False, headers=cluster.rest_headers
    ) as client:

        async def converse(sender: str, messages: list[str]) -> None:
            for text in messages:
                try:
                    response = await client.post(cluster.rest_url, json={"sender": sender, "message": text})
                except httpx.HTTPError as err:
                    problems.append(f"{sender}: {type(err).__name__}")
                    return
                if response.status_code != 200:
                    problems.append(f"{sender}: HTTP {response.status_code}")
                    return
                body = response.json()
                said = texts(body)
                if not said or said[0].startswith(APOLOGY_START):
                    problems.append(f"{sender}: {text!r} got {said!r}")
                replies[sender].append(body)

        await asyncio.gather(*(converse(s, m) for s, m in scripts.items()))
    return replies, problems


def test_200_concurrent_conversations_every_message_answered_in_order(cluster: Cluster) -> None:
    scripts = {
        f"load-{uuid.uuid4().hex[:10]}": ["你好", KB_QUESTIONS[n % len(KB_QUESTIONS)], "谢谢"]
        for n in range(CONVERSATIONS)
    }
    replicas = [cluster.processes[f"rasa-{p}"].pid for p in cluster.rasa_ports]
    before = [cpu_ticks(pid) for pid in replicas]
    replies, problems = asyncio.run(_conversations(cluster, scripts))
    used = [cpu_ticks(pid) - b for pid, b in zip(replicas, before, strict=True)]
    assert problems == [], problems[:10]
    for sender, answers in replies.items():
        assert len(answers) == 3, sender
        # Each reply answers its own message: the question's names a KB entry, the greetings' do not.
        assert kb_entry(answers[1]), (sender, answers[1])
        assert not kb_entry(answers[0]) and not kb_entry(answers[2]), (sender, answers)
    # The tracker store holds every conversation's turns, once each, in the order they were sent.
    # Nothing lost, nothing out of order. A turn the victim had finished and stored but not yet answered when it
    # died is passed on by nginx and runs once more on the survivor: at least once, so that one turn may be
    # stored twice in a row (the sender got one answer). Every other turn is stored exactly once.
    for sender, turns in user_turns(cluster, list(scripts)).items():
        assert collapse_repeats(turns) == scripts[sender], (sender, turns)
        assert len(turns) <= len(scripts[sender]) + 1, (sender, turns)
    # nginx spread the conversations: each replica did a real share of the work.
    assert min(used) > 0.2 * sum(used), used


def _action_call(question: str) -> dict[str, Any]:
    sender = f"probe-{uuid.uuid4().hex[:8]}"
    return {
        "next_action": "action_kb_answer",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {"slots": {}, "responses": {}, "forms": {}, "actions": ["action_kb_answer"]},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": question, "intent": {"name": "ask_care_service"}, "entities": []},
            "events": [{"event": "user", "text": question}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def test_a_kb_edit_is_seen_by_every_action_server_and_through_every_replica(cluster: Cluster) -> None:
    question = KB_QUESTIONS[0]
    entry_id = kb_entry(cluster.say(f"kb-{uuid.uuid4().hex[:8]}", question))
    assert entry_id
    env = cluster.env()
    store = KBStore(env["KB_DATABASE_URL"])
    original = store.get(entry_id)
    marker = f"【更新{uuid.uuid4().hex[:6]}】"
    store.edit(replace(original, answer=marker + original.answer[:100]), "cluster-test", "live edit on every replica")
    token = {"X-Yinling-Action-Token": env["YINLING_ACTION_TOKEN"]}
    try:
        pending = {f"actions-{p}": f"http://{cluster.host}:{p}/webhook" for p in cluster.action_ports}
        pending.update({f"rasa-{p}": cluster.replica_url(p) for p in cluster.rasa_ports})
        # Polled, not timed (the bench measures how fast): each server answers with the edit.
        deadline = time.monotonic() + 60
        while pending:
            for name, url in list(pending.items()):
                if name.startswith("actions-"):
                    answer = httpx.post(url, json=_action_call(question), headers=token, timeout=30).json()
                    said = [m.get("text") or "" for m in answer.get("responses", [])]
                else:
                    said = texts(cluster.say(f"kb-{uuid.uuid4().hex[:8]}", question, url))
                if any(marker in s for s in said):
                    del pending[name]
            assert time.monotonic() < deadline, f"the edit never reached {', '.join(pending)}"
            time.sleep(0.05)
    finally:
        store.edit(original, "cluster-test", "undo the live edit")
        store.dispose()


def _next_weekday(weekday: int) -> dt.date:
    today = dt.datetime.now(SHANGHAI).date()
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=1, days=weekday)


def _to_readback(cluster: Cluster, sender: str, first: str, port: int) -> str:
    reply = say(cluster, sender, first, port)
    answers = {
        "名字": "张秀英",
        "手机": "13812345678",
        "哪个街道": "顾村",
        "哪天": "下礼拜五下午两点",
        "什么服务": "助浴",
    }
    for _ in range(6):
        if "请您核对" in reply:
            return reply
        question = next((k for k in answers if k in reply), None)
        assert question is not None, reply
        reply = say(cluster, sender, answers.pop(question), port)
    raise AssertionError(f"no read-back: {reply}")


def test_the_last_seat_raced_from_both_replicas_is_booked_once(cluster: Cluster) -> None:
    store = BookingStore(cluster.env()["BOOKINGS_DATABASE_URL"])
    start = dt.datetime.combine(_next_weekday(4), dt.time(14, 0), SHANGHAI)
    slot = next(s for s in store.find_slots("bath", start, start + dt.timedelta(hours=1), street="顾村镇"))
    for n in range(slot.free - 1):
        store.book(slot.id, f"filler-{n}", "占位", "13900000000")
    # Three seniors on each replica, straight to the replica (not through nginx), all at the read-back.
    racers = [(f"race-{uuid.uuid4().hex[:8]}", port) for port in cluster.rasa_ports for _ in range(3)]
    for sender, port in racers:
        assert "14:00–" in _to_readback(cluster, sender, "下礼拜五下午两点帮我约个助浴，住在顾村", port)
    barrier = threading.Barrier(len(racers))

    def confirm(racer: tuple[str, int]) -> str:
        barrier.wait()
        return say(cluster, racer[0], "对", racer[1])

    with ThreadPoolExecutor(len(racers)) as pool:
        answers = list(pool.map(confirm, racers))
    assert sum(bool(CODE.search(a)) for a in answers) == 1, answers
    assert sum("被别人约走了" in a for a in answers) == len(racers) - 1, answers
    assert store.slot(slot.id).free == 0
    assert sum(len(store.list_for_user(sender)) for sender, _ in racers) == 1
    store.dispose()


def test_a_replica_killed_mid_load_its_conversations_go_on_with_their_state(cluster: Cluster) -> None:
    victim, survivor = cluster.rasa_ports
    # Booking forms half filled: service, day and town given; the contact's name is asked next.
    forms = [f"form-{uuid.uuid4().hex[:8]}" for _ in range(30)]
    with ThreadPoolExecutor(8) as pool:
        firsts = list(pool.map(lambda s: say(cluster, s, "下礼拜二上半天帮我约个助浴，住在顾村"), forms))
    assert all("名字" in f for f in firsts), firsts

    # Load through nginx while the first replica is killed with SIGKILL.
    scripts = {
        f"kill-{uuid.uuid4().hex[:10]}": ["你好", KB_QUESTIONS[n % len(KB_QUESTIONS)], "谢谢"] for n in range(60)
    }
    outcome: dict[str, Any] = {}

    def load() -> None:
        outcome["replies"], outcome["problems"] = asyncio.run(_conversations(cluster, scripts))

    loader = threading.Thread(target=load)
    loader.start()
    # Kill once the load is under way on both replicas (the tracker store shows turns arriving).
    deadline = time.monotonic() + 120
    while sum(len(t) for t in user_turns(cluster, list(scripts)).values()) < 20:
        assert time.monotonic() < deadline and loader.is_alive(), "the load never got going"
        time.sleep(0.1)
    cluster.kill(f"rasa-{victim}", signal.SIGKILL)

    # The half-filled forms continue, through nginx (so on the survivor), from where they were.
    with ThreadPoolExecutor(8) as pool:
        seconds = list(pool.map(lambda s: say(cluster, s, "张秀英"), forms))
        readbacks = list(pool.map(lambda s: say(cluster, s, "13812345678"), forms))
    loader.join(timeout=300)
    assert not loader.is_alive()
    assert all("手机" in s for s in seconds), seconds
    for readback in readbacks:
        assert "请您核对" in readback and "张秀英" in readback and "顾村镇" in readback and "助浴" in readback, readback
    assert outcome["problems"] == [], outcome["problems"][:10]
    # Nothing lost, nothing out of order. A turn the victim had finished and stored but not yet answered when it
    # died is passed on by nginx and runs once more on the survivor: at least once, so that one turn may be
    # stored twice in a row (the sender got one answer). Every other turn is stored exactly once.
    for sender, turns in user_turns(cluster, list(scripts)).items():
        assert collapse_repeats(turns) == scripts[sender], (sender, turns)
        assert len(turns) <= len(scripts[sender]) + 1, (sender, turns)
    # And the survivor alone answers a fresh conversation.
    assert kb_entry(cluster.say(f"after-{uuid.uuid4().hex[:8]}", KB_QUESTIONS[1], cluster.replica_url(survivor)))
