"""``make fuzz`` in small: every channel route gets 300 generated inputs (fixed seed), in process;
plus the regression test of what the fuzzer found in the channels.

The full run (100,000 inputs per route, and a pass over real HTTP) is ``make fuzz``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fuzz.channels import REST_TOKEN, ROUTES, Channels, fuzz_channels, lifespan, served
from fuzz.core import Probe, call, call_http, watching_logs

INPUTS = 300


def test_every_channel_route_survives_300_generated_inputs(tmp_path: Path) -> None:
    results = asyncio.run(fuzz_channels(INPUTS, "smoke", tmp_path / "crashes"))
    assert [r.name.split()[0] for r in results] == [name.split("-")[0] for name in ROUTES]
    for result in results:
        problems = result.samples + result.reproducers
        assert result.inputs == INPUTS, result.name
        assert (result.server_errors, result.exceptions, result.error_logs) == (0, 0, 0), (result.name, problems)
        # The generators reach past the first checks: some inputs are answered, many are refused.
        assert any(200 <= code < 300 for code in result.statuses), (result.name, result.statuses)
        assert any(400 <= code < 500 for code in result.statuses), (result.name, result.statuses)
    assert not (tmp_path / "crashes").exists()


def test_the_same_seed_makes_the_same_inputs() -> None:
    from fuzz.channels import rest_route

    channels = Channels()
    first = [rest_route(channels, "7").make(i) for i in range(50)]
    again = [rest_route(channels, "7").make(i) for i in range(50)]
    other = [rest_route(channels, "8").make(i) for i in range(50)]
    assert [p.as_json() for p in first] == [p.as_json() for p in again]
    assert [p.as_json() for p in first] != [p.as_json() for p in other]


# Found by the fuzzer: Sanic 21.12 renders error pages (404, 405 …) in the format the Accept header
# asks for, and a malformed Accept made the rendering itself fail: a bare 500 "An error occurred
# while handling an error", with nothing in the log.
BAD_ACCEPT = ("accept", "*/**/**/*")
CASES = [
    ("PUT", "/webhooks/rest/webhook", 405),
    ("GET", "/webhooks/wechat/webhook/nothing-here", 404),
    ("DELETE", "/webhooks/telegram/webhook", 405),
    ("POST", "/webhooks/webchat/history", 405),
]


def test_a_malformed_accept_header_gets_the_error_page_not_a_500() -> None:
    async def scenario() -> None:
        channels = Channels()
        with watching_logs() as logs:
            async with lifespan(channels.app):
                for method, path, status in CASES:
                    probe = Probe(method, path, headers=[BAD_ACCEPT, ("authorization", f"Bearer {REST_TOKEN}")])
                    answer = await call(channels.app, probe)
                    assert (answer.status, answer.error) == (status, None), (path, answer.body[:200])
            assert logs.take() == []

    asyncio.run(scenario())


def test_a_malformed_accept_header_over_real_http_too() -> None:
    async def scenario() -> None:
        channels = Channels()
        with watching_logs() as logs:
            async with served(channels.app) as port:
                for method, path, status in CASES:
                    answer = await call_http("127.0.0.1", port, Probe(method, path, headers=[BAD_ACCEPT]))
                    assert answer.status == status, (path, answer.body[:200])
                # A well-formed request after them is answered as usual.
                ok = await call_http("127.0.0.1", port, Probe("GET", "/webhooks/rest/"))
                assert ok.status == 200
            assert logs.take() == []

    asyncio.run(scenario())
