"""A crash never silences the service: the action server is killed (SIGKILL) while 8 people are talking.

The supervisor `make run` uses (scripts.stack.Supervisor) runs beside the real servers. Throughout:
emergencies and greetings are answered (Rasa answers them alone), nobody meets silence (the guard
apologises), the action server comes back by itself, no booking is lost or made twice, and a booking
form half filled before the crash is still half filled after it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bookings.store import BookingStore
from scripts.stack import Supervisor, http_get
from tests.app.conftest import Stack, kb_entry, new_sender, texts

pytestmark = pytest.mark.e2e
CODE = re.compile(r"预约号：(\d{3} \d{3})")


@pytest.fixture
def supervised(stack: Stack) -> Iterator[Supervisor]:
    supervisor = Supervisor(stack, max_backoff=2.0)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            supervisor.check()
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield supervisor
    stop.set()
    thread.join(timeout=10)
    stack.wait_healthy(timeout=300)  # leave the shared servers as they were


def _healthy(stack: Stack) -> bool:
    return http_get(f"http://{stack.host}:{stack.action_port}/health") == 200


def test_eight_people_talking_while_the_action_server_is_killed(
    stack: Stack, supervised: Supervisor, bookings_url: str, staff_url: str
) -> None:
    killed, back = threading.Event(), threading.Event()
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    def emergencies() -> None:
        while not back.is_set():
            first = texts(stack.say(new_sender(), "老头子胸口痛得不得了，喘不上气"))
            check(bool(first) and first[0].startswith("【紧急】"), f"emergency not answered first: {first}")
            time.sleep(0.2)

    def greetings() -> None:
        while not back.is_set():
            replies = texts(stack.say(new_sender(), "侬好呀"))
            check(bool(replies) and replies[0].startswith("您好"), f"greeting not answered: {replies}")
            time.sleep(0.2)

    def questions() -> None:
        # Never silence: a knowledge question gets an answer or the apology with the hotline.
        while not back.is_set():
            replies = texts(stack.say(new_sender(), "长护险的评估要等几天"))
            check(bool(replies), "silence for a knowledge question")
            check(
                bool(replies) and ((replies[0].startswith("抱歉") and "12345" in replies[0]) or "评估" in replies[0]),
                f"neither an answer nor the apology: {replies}",
            )
            time.sleep(0.3)

    def booking(name: str, phone: str) -> tuple[str, str]:
        sender = new_sender()
        reply = "\n".join(texts(stack.say(sender, "下礼拜三下午帮我约个上门护理，住在顾村")))
        check("名字" in reply, f"form did not reach the name: {reply}")
        killed.wait(timeout=120)
        stack.say(sender, name)  # during the outage: may get the apology; must not break the form
        back.wait(timeout=300)
        reply = "\n".join(texts(stack.say(sender, name)))
        for _ in range(3):
            if "请您核对" in reply:
                break
            reply = "\n".join(texts(stack.say(sender, phone if "手机" in reply else name)))
        check("请您核对" in reply and "顾村" in reply and name in reply, f"the half-filled form was lost: {reply}")
        first = "\n".join(texts(stack.say(sender, "对")))
        again = "\n".join(texts(stack.say(sender, "对")))  # a redelivered yes
        check(bool(CODE.search(first)), f"no booking after the restart: {first}")
        return sender, again

    complainer = new_sender()

    def complaint() -> None:
        # A complaint about an answer while the action server is down: the apology, and the question
        # is still kept for the administrators (the staff app reads it from the tracker).
        first = stack.say(complainer, "请问长护险到底要哪能申请")
        check(bool(kb_entry(first)), f"no knowledge answer before the outage: {texts(first)}")
        killed.wait(timeout=120)
        replies = texts(stack.say(complainer, "你说的不对"))
        check(bool(replies) and replies[0].startswith("抱歉"), f"no apology during the outage: {replies}")

    people: list[Callable[[], object]] = [
        emergencies,
        emergencies,
        greetings,
        greetings,
        questions,
        complaint,
        lambda: booking("诸葛红英", "13812346601"),
        lambda: booking("欧阳建国", "13812346602"),
    ]
    with ThreadPoolExecutor(len(people)) as pool:
        futures = [pool.submit(person) for person in people]
        time.sleep(8)  # everyone is talking, both bookers are at the name prompt
        process = stack.processes["actions"]
        os.killpg(process.pid, signal.SIGKILL)
        killed.set()
        time.sleep(1)
        assert not _healthy(stack), "the action server should be down right after SIGKILL"
        deadline = time.monotonic() + 240
        while not _healthy(stack):
            assert time.monotonic() < deadline, "the action server did not come back by itself"
            time.sleep(0.5)
        assert supervised.restarts.get("actions", 0) >= 1
        time.sleep(3)  # a few more turns with the new server
        back.set()
        results = [f.result(timeout=600) for f in futures]
    assert not failures, failures[:10]
    store = BookingStore(bookings_url)
    try:
        for sender, _ in (r for r in results if isinstance(r, tuple)):
            assert len(store.list_for_user(sender)) == 1, "a booking was lost or made twice"
    finally:
        store.dispose()
    after = stack.say(new_sender(), "长护险的评估要等几天")
    assert kb_entry(after), "knowledge answers work again after the restart"
    assert _kept_unanswered(stack, "请问长护险到底要哪能申请") == ["unhelpful"]


def _kept_unanswered(stack: Stack, question: str) -> list[str]:
    """The reasons the staff database keeps ``question`` under (waiting a little for the background post)."""
    import sqlalchemy as sa

    from staff.config import Settings
    from staff.db import StaffDB, unanswered

    db = StaffDB(Settings.from_env(stack.env()).database_url)
    deadline = time.monotonic() + 30
    while True:
        with db.read() as conn:
            reasons = [
                str(r)
                for r in conn.execute(sa.select(unanswered.c.reason).where(unanswered.c.text == question)).scalars()
            ]
        if reasons or time.monotonic() > deadline:
            return reasons
        time.sleep(0.5)
