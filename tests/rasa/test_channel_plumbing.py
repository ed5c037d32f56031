"""The shared channel plumbing (channels/plumbing.py, limits.py, config.py, errors.py) and the memories in dedupe.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rasa.shared.exceptions import InvalidConfigException, RasaException

from channels.config import channel_limit, check_keys, credentials_file, flag
from channels.dedupe import MemoryBindings, MemoryDeduplicator, RedisBindings
from channels.errors import BadPayload, ChannelConfigError
from channels.limits import AddressGuard, SenderThrottle, Verdict
from channels.plumbing import (
    BackgroundTasks,
    describe_unexpected,
    hide_query_in_sanic_logs,
    json_too_deep,
    loads_json,
    mask,
)
from channels.rest import RestInput
from channels.wechat import WeChatConfig, WeChatInput
from common.ratelimit import Limit
from tests.rasa.test_telegram_fake_api import ScriptedRasa, serve_channels

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ Content-Length, on a real server


@contextlib.contextmanager
def server_in_a_thread() -> Iterator[int]:
    """WeChat and REST mounted by Rasa's own code, served by a loop in another thread.

    The client stays in this thread with socket timeouts, so a server that freezes (as Sanic did on
    ``Content-Length: -5``) fails the test instead of hanging it.
    """
    ready, stop = threading.Event(), threading.Event()
    port: list[int] = []

    async def serve() -> None:
        config = WeChatConfig(token="t", app_id="wx0", app_secret="s")
        channels = [
            WeChatInput(config, deduplicator=MemoryDeduplicator(), bindings=MemoryBindings()),
            RestInput("plumbing-rest-token-0123456789"),
        ]
        async with serve_channels(channels, ScriptedRasa()) as url:
            port.append(int(url.rsplit(":", 1)[1]))
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield port[0]
    finally:
        stop.set()
        thread.join(10)


def exchange(port: int, path: str, headers: list[str], body: bytes = b"0123456789") -> int:
    """One raw HTTP/1.1 request; the answer's status code. Times out (fails) if the server froze."""
    head = "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", "", ""])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


BAD_LENGTHS = {
    "negative": (["Content-Length: -5"], 400),
    "not a number": (["Content-Length: abc"], 400),
    "exponent": (["Content-Length: 1e3"], 400),
    "plus sign": (["Content-Length: +5"], 400),
    "a list": (["Content-Length: 5, 5"], 400),
    "two that differ": (["Content-Length: 10", "Content-Length: 4"], 400),
    "with chunked": (["Content-Length: 10", "Transfer-Encoding: chunked"], 400),
    "gzip coding": (["Transfer-Encoding: gzip"], 400),
    "capitalised chunked": (["Transfer-Encoding: Chunked"], 400),
    "two codings": (["Transfer-Encoding: chunked, gzip"], 400),
    "5000 digits": (["Content-Length: " + "9" * 5000], 413),
}


@pytest.mark.parametrize("case", list(BAD_LENGTHS))
def test_malformed_content_length_is_refused_on_every_route_and_the_server_keeps_serving(case: str) -> None:
    headers, status = BAD_LENGTHS[case]
    with server_in_a_thread() as port:
        for path in ("/webhooks/wechat/webhook?signature=x", "/webhooks/rest/webhook"):
            assert exchange(port, path, ["Content-Type: text/xml", *headers]) == status
        # Still serving: REST answers a good request.
        good = json.dumps({"sender": "plumbing-test", "message": "你好"}).encode()
        assert (
            exchange(
                port,
                "/webhooks/rest/webhook",
                [f"Content-Length: {len(good)}", "Authorization: Bearer plumbing-rest-token-0123456789"],
                good,
            )
            == 200
        )


# ------------------------------------------------------------------ JSON depth


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab长', max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3)
    ),
    max_leaves=30,
)


@pytest.mark.property
@given(value=JSON_VALUES, limit=st.integers(min_value=1, max_value=8))
@example(value={"[[[": ["]]]", {"\\": "{"}]}, limit=2)
@example(value=[[[]]], limit=3)
@example(value=[[[]]], limit=2)
def test_depth_check_agrees_with_the_real_nesting(value: Any, limit: int) -> None:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    assert json_too_deep(body, limit) == (_depth(value) > limit)


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_ten_thousand_levels_are_a_bad_payload_not_a_recursion_error(opener: str, closer: str) -> None:
    body = (opener * 10_000 + "1" + closer * 10_000).encode()
    with pytest.raises(BadPayload, match="deeper than 32"):
        loads_json(body, 32)


def test_brackets_inside_strings_do_not_count() -> None:
    text = "[" * 5000 + "长" + "{" * 5000
    assert loads_json(json.dumps({"text": text}, ensure_ascii=False).encode(), 4) == {"text": text}


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"{not json", b'{"a": [1, 2}', b'"unterminated'])
def test_what_is_not_utf8_json_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        loads_json(body, 32)


# ------------------------------------------------------------------ background tasks and logs


def test_a_failed_task_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("秀英 13800138000")

    async def scenario() -> None:
        tasks = BackgroundTasks("test")
        tasks.spawn(fails())
        assert await tasks.drain(timeout=5)
        assert tasks.pending == 0

    caplog.set_level(logging.ERROR, logger="channels")
    asyncio.run(scenario())
    assert "RuntimeError at test_channel_plumbing.py" in caplog.text and "fails" in caplog.text
    assert "秀英" not in caplog.text and "13800138000" not in caplog.text


def test_drain_waits_for_tasks_started_by_tasks_and_gives_up_at_the_timeout() -> None:
    finished: list[str] = []

    async def scenario() -> None:
        tasks = BackgroundTasks("test")

        async def child() -> None:
            await asyncio.sleep(0.05)
            finished.append("child")

        async def parent() -> None:
            await asyncio.sleep(0.05)
            tasks.spawn(child())
            finished.append("parent")

        tasks.spawn(parent())
        assert await tasks.drain(timeout=5)
        assert finished == ["parent", "child"]
        never = asyncio.Event()

        async def stuck() -> None:
            await never.wait()

        tasks.spawn(stuck())
        assert not await tasks.drain(timeout=0.05)
        assert tasks.pending == 1
        never.set()
        assert await tasks.drain(timeout=5)

    asyncio.run(scenario())


def test_describe_unexpected_names_the_place_not_the_message() -> None:
    try:
        {"a": 1}["长护险 secret"]
    except KeyError as err:
        described = describe_unexpected(err)
    assert described.startswith("KeyError at test_channel_plumbing.py:")
    assert "secret" not in described and "长护险" not in described
    assert describe_unexpected(ChannelConfigError("set x")) == "ChannelConfigError: set x"


def test_sanic_log_lines_lose_the_query_of_hidden_paths() -> None:
    hide_query_in_sanic_logs("/wechat/webhook")
    url = "http://h/webhooks/wechat/webhook?signature=abc123&timestamp=1&nonce=n0nce&openid=oSECRET"
    record = logging.LogRecord(
        "sanic.error", logging.ERROR, __file__, 1, "Exception while handling uri: %s", (repr(url),), None
    )
    access = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", None, None)
    access.request = f"POST {url}"
    for name, rec in (("sanic.error", record), ("sanic.access", access)):
        for log_filter in logging.getLogger(name).filters:
            assert isinstance(log_filter, logging.Filter) and log_filter.filter(rec)
    line = record.getMessage() + " " + access.request
    for secret in ("abc123", "n0nce", "oSECRET"):
        assert secret not in line
    assert f"openid={mask('oSECRET')}" in line and "signature=-" in line
    other = logging.LogRecord(
        "sanic.error", logging.ERROR, __file__, 1, "uri: %s", ("http://h/webhooks/rest/?a=1",), None
    )
    for log_filter in logging.getLogger("sanic.error").filters:
        assert isinstance(log_filter, logging.Filter) and log_filter.filter(other)
    assert other.getMessage() == "uri: http://h/webhooks/rest/?a=1"  # other paths are left alone


# ------------------------------------------------------------------ rate limits


def test_a_sender_over_the_limit_is_told_once_per_window() -> None:
    clock = Clock()
    throttle = SenderThrottle(Limit(per_minute=6, burst=2), window=60, clock=clock)
    verdicts = [throttle.check("wechat", "oA") for _ in range(5)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.SLOW_DOWN, Verdict.DROP, Verdict.DROP]
    assert throttle.check("wechat", "oB") is Verdict.ALLOW, "senders are limited independently"
    assert throttle.check("telegram", "oA") is Verdict.ALLOW, "so are channels"
    clock.now += 10  # one token back (6 a minute): one message goes through, the next is dropped
    assert [throttle.check("wechat", "oA") for _ in range(2)] == [Verdict.ALLOW, Verdict.DROP]
    clock.now += 60  # a full bucket and a new window: told again, once
    again = [throttle.check("wechat", "oA") for _ in range(4)]
    assert again == [Verdict.ALLOW, Verdict.ALLOW, Verdict.SLOW_DOWN, Verdict.DROP]


def test_an_address_is_blocked_after_its_failed_checks_and_comes_back() -> None:
    clock = Clock()
    guard = AddressGuard(Limit(per_minute=6, burst=3), "test", clock=clock)
    for _ in range(3):
        assert not guard.refuses("203.0.113.9")
        guard.failed("203.0.113.9")
    assert guard.refuses("203.0.113.9") and not guard.refuses("203.0.113.10")
    clock.now += 10
    assert not guard.refuses("203.0.113.9")


def test_switched_off_limits_allow_everything() -> None:
    throttle = SenderThrottle(Limit(per_minute=0, burst=1))
    guard = AddressGuard(Limit(per_minute=0, burst=1), "test")
    for _ in range(100):
        guard.failed("a")
        assert throttle.check("c", "s") is Verdict.ALLOW
    assert not guard.refuses("a")


# ------------------------------------------------------------------ configuration


def test_unknown_keys_name_the_key_the_section_the_file_and_the_allowed_keys() -> None:
    with pytest.raises(ChannelConfigError) as info:
        check_keys({"tokn": "x", "reply_timeout": 1, "colour": "red"}, {"token", "reply_timeout"}, "sec.X", "creds.yml")
    message = str(info.value)
    assert "'colour', 'tokn' (did you mean 'token'?)" in message
    assert "sec.X in creds.yml" in message and "Allowed keys: reply_timeout, token" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidConfigException)
    assert isinstance(info.value, RasaException)  # so `rasa run` prints it without a traceback
    check_keys({"token": "x"}, {"token"}, "sec.X", "creds.yml")  # known keys pass


def test_the_credentials_file_is_the_one_rasa_run_was_given() -> None:
    assert credentials_file(["rasa", "run", "--credentials", "var/c.yml"]) == "var/c.yml"
    assert credentials_file(["rasa", "run", "--credentials=/x/c.yml", "--port", "1"]) == "/x/c.yml"
    assert credentials_file(["rasa", "run"]) == "credentials.yml"


def test_channel_limits_prefer_the_channel_then_the_shared_variable() -> None:
    default = Limit(20, 10)
    assert channel_limit("wechat", "sender", default, {}) == default
    assert channel_limit("wechat", "sender", default, {"YINLING_RATE_SENDER": "30/5"}) == Limit(30, 5)
    env = {"YINLING_RATE_SENDER": "30/5", "YINLING_RATE_WECHAT_SENDER": "2/1"}
    assert channel_limit("wechat", "sender", default, env) == Limit(2, 1)
    assert channel_limit("telegram", "sender", default, env) == Limit(30, 5)
    with pytest.raises(ChannelConfigError, match="YINLING_RATE_TELEGRAM_IP"):
        channel_limit("telegram", "ip", default, {"YINLING_RATE_TELEGRAM_IP": "lots"})


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("yes", True), ("1", True), (None, False), ("off", False)]
)
def test_flags(value: Any, expected: bool) -> None:
    assert flag(value, "x") is expected


def test_a_flag_that_is_neither_is_an_error() -> None:
    with pytest.raises(ChannelConfigError, match="x must be true or false"):
        flag("maybe", "x")


# ------------------------------------------------------------------ memories


def test_bindings_accept_the_same_value_and_refuse_another() -> None:
    async def scenario() -> None:
        bindings = MemoryBindings()
        assert await bindings.bind("q", "body-1", 60)
        assert await bindings.bind("q", "body-1", 60), "the same body again is a retry"
        assert not await bindings.bind("q", "body-2", 60), "another body is a replay"
        assert await bindings.bind("other", "body-2", 60)
        assert await bindings.bind("short", "a", 0.0) and await bindings.bind("short", "b", 60), "expired: free"

    asyncio.run(scenario())


def test_bindings_stay_bounded() -> None:
    async def scenario() -> None:
        bindings = MemoryBindings(max_keys=100)
        for i in range(1000):
            assert await bindings.bind(f"k{i}", "v", 60)
        assert len(bindings._memory._entries) == 100  # the oldest went first
        assert not await bindings.bind("k999", "w", 60) and await bindings.bind("k0", "w", 60)

    asyncio.run(scenario())


def test_redis_bindings_are_shared_between_instances() -> None:
    import redis

    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis tests, but no Redis answered")
        pytest.skip(f"no Redis server at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4().hex}"

    async def scenario() -> list[bool]:
        first, second = RedisBindings(REDIS_URL, prefix), RedisBindings(REDIS_URL, prefix)
        return [
            await first.bind("q", "body-1", 30),
            await second.bind("q", "body-1", 30),
            await second.bind("q", "body-2", 30),
            await first.bind("other", "body-2", 30),
        ]

    assert asyncio.run(scenario()) == [True, True, False, True]


def test_a_proxy_sanic_does_not_trust_is_pointed_out_once(caplog: pytest.LogCaptureFixture) -> None:
    from sanic import Sanic
    from sanic.compat import Header
    from sanic.request import Request

    from channels import limits

    limits._proxy_warning_given.clear()
    app = Sanic(f"proxy_test_{uuid.uuid4().hex[:8]}")

    def request(headers: dict[str, str]) -> Request:
        return Request(b"/webhooks/wechat/webhook", Header(headers), "1.1", "POST", None, app)

    caplog.set_level(logging.WARNING, logger="channels")
    assert limits.client_address(request({"host": "x"})) == "unknown"
    assert "proxy" not in caplog.text
    for _ in range(3):
        limits.client_address(request({"host": "x", "x-forwarded-for": "198.51.100.7"}))
    assert caplog.text.count("SANIC_PROXIES_COUNT=1") == 1
