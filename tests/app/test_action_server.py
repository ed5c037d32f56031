"""The action server refuses strangers, never echoes a conversation in an error, and logs nothing personal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.server import ThreadedExecutor
from scripts.stack import APP_VENV, ROOT, base_env, free_port

TOKEN = "action-token-for-tests-0123456789"
SECRET_TEXT = "我老伴张秀英的电话是13812345678"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("actions")
    port = free_port()
    log = work / "actions.log"
    env = {
        **base_env(),
        "YINLING_ACTION_TOKEN": TOKEN,
        "YINLING_WARM_KB": "0",
        # A knowledge base that cannot be opened: the first knowledge action fails inside the server.
        "KB_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nothing",
        "BOOKINGS_DATABASE_URL": f"sqlite:///{work / 'bookings.sqlite'}",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(APP_VENV / "bin" / "python"), "-m", "actions.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            process.kill()
            raise AssertionError(log.read_text(errors="replace")[-3000:])
        yield url, log
        process.terminate()
        process.wait(timeout=30)


def _call(action: str) -> dict[str, object]:
    return {
        "next_action": action,
        "sender_id": "wechat:oTESTopenid0123456789abcdefg",
        "version": "3.6.21",
        "domain": {"slots": {}, "responses": {}, "forms": {}, "actions": [action]},
        "tracker": {
            "sender_id": "wechat:oTESTopenid0123456789abcdefg",
            "slots": {},
            "latest_message": {"text": SECRET_TEXT, "intent": {"name": "ask_care_service"}, "entities": []},
            "events": [{"event": "user", "text": SECRET_TEXT}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def test_calls_without_the_shared_secret_are_refused(server: tuple[str, Path]) -> None:
    url, _ = server
    for headers in ({}, {"X-Yinling-Action-Token": "wrong"}, {"X-Yinling-Action-Token": TOKEN[:-1]}):
        answer = httpx.post(f"{url}/webhook", json=_call("action_kb_answer"), headers=headers, timeout=30)
        assert answer.status_code == 401, answer.text
        assert SECRET_TEXT not in answer.text


def test_a_failing_action_answers_without_echoing_the_conversation_and_logs_nothing_personal(
    server: tuple[str, Path],
) -> None:
    url, log = server
    answer = httpx.post(
        f"{url}/webhook", json=_call("action_kb_answer"), headers={"X-Yinling-Action-Token": TOKEN}, timeout=60
    )
    assert answer.status_code == 500
    body = json.dumps(answer.json(), ensure_ascii=False)
    assert SECRET_TEXT not in body and "oTESTopenid" not in body and "tracker" not in body
    time.sleep(0.5)
    logged = log.read_text(errors="replace")
    assert "An action failed" in logged
    for secret in ("张秀英", "13812345678", "我老伴", "oTESTopenid0123456789abcdefg"):
        assert secret not in logged


class _Echo(Action):
    """Says which thread ran it, so the test sees the call left the caller's event loop."""

    def name(self) -> str:
        return "action_echo_thread"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=threading.current_thread().name)
        return []


def _echo_call() -> dict[str, Any]:
    tracker = {
        "sender_id": "t1",
        "slots": {},
        "latest_message": {},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": None,
    }
    return {"next_action": "action_echo_thread", "sender_id": "t1", "tracker": tracker, "domain": {}, "version": "3.6"}


def test_the_threaded_executor_runs_an_action_off_the_loop_and_returns_its_answer() -> None:
    executor = ThreadedExecutor(2)
    executor.register_action(_Echo)
    result = asyncio.run(executor.run(_echo_call()))
    assert result is not None
    [message] = result.model_dump()["responses"]
    assert message["text"].startswith("action")  # the pool's thread name, not the test's MainThread


def test_a_streaming_call_stays_on_the_callers_loop() -> None:
    executor = ThreadedExecutor(2)
    executor.register_action(_Echo)

    async def stream() -> tuple[Any, list[Any]]:
        sink: asyncio.Queue[Any] = asyncio.Queue()
        result = await executor.run(_echo_call(), sink)
        items = []
        while not sink.empty():
            items.append(sink.get_nowait())
        return result, items

    result, _ = asyncio.run(stream())
    assert result is not None
    [message] = result.model_dump()["responses"]
    assert message["text"] == "MainThread"


class _Slots(Action):
    def name(self) -> str:
        return "action_count_slots"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=str(len(domain.get("slots") or {})))
        return []


def test_a_call_without_the_domain_runs_with_the_last_one_received() -> None:
    """endpoints.yml's enable_selective_domain: Rasa sends the domain only to validate_* actions; the others run
    (rasa-sdk alone would refuse them: Rasa 3.6 sends no domain digest), with the last domain seen, or none."""
    executor = ThreadedExecutor(2)
    executor.register_action(_Slots)
    call = {**_echo_call(), "next_action": "action_count_slots"}
    said = []
    for domain in (None, {"slots": {"a": {}, "b": {}}}, None):
        body = {key: value for key, value in call.items() if key != "domain"}
        if domain is not None:
            body["domain"] = domain
        result = asyncio.run(executor.run(body))
        assert result is not None
        said.append(result.model_dump()["responses"][0]["text"])
    assert said == ["0", "2", "2"]


def test_rasa_sends_the_domain_only_to_the_actions_that_read_it() -> None:
    endpoints = (ROOT / "endpoints.yml").read_text(encoding="utf-8")
    cluster = (ROOT / "deploy" / "endpoints.cluster.yml").read_text(encoding="utf-8")
    assert "enable_selective_domain: true" in endpoints and "enable_selective_domain: true" in cluster
    # Every action that reads its domain argument is a validate_* action (which Rasa always sends it).
    readers = []
    for path in sorted((ROOT / "actions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "FormValidationAction" in text or "ValidationAction" in text or "domain.get(" in text or "domain[" in text:
            readers.append(path.name)
    assert readers == ["booking_form.py"], readers
    assert 'return "validate_booking_form"' in (ROOT / "actions" / "booking_form.py").read_text(encoding="utf-8")


class _Loop(Action):
    def name(self) -> str:
        return "action_which_loop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=f"{threading.current_thread().name} {id(asyncio.get_running_loop())}")
        return []


def test_a_worker_thread_keeps_its_event_loop_from_call_to_call() -> None:
    executor = ThreadedExecutor(1)
    executor.register_action(_Loop)
    call = {**_echo_call(), "next_action": "action_which_loop"}

    async def twice() -> list[str]:
        said = []
        for _ in range(2):
            result = await executor.run(call)
            assert result is not None
            said.append(result.model_dump()["responses"][0]["text"])
        return said

    first, second = asyncio.run(twice())
    assert first == second and first.startswith("action")  # one thread of the pool, one loop, both times
