"""``make fuzz`` in small for the staff app: every login, admin, KB API and attendance route gets 300
generated inputs (fixed seed), in process; and the fuzzer's own harness is shown to catch what it is for (a 500,
an exception escaping the app, an error in the log), so that a clean run means something.

The full run (100,000 inputs per route within a time budget, then a pass over real HTTP) is ``make fuzz``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route as StarletteRoute

from fuzz.__main__ import compare, render_markdown
from fuzz.core import Probe, Route, call, replay, run_route, watching_logs
from fuzz.mutate import Mutator
from fuzz.staff import ROUTES, fuzz_staff

INPUTS = 300


def test_every_staff_route_survives_300_generated_inputs(tmp_path: Path) -> None:
    results = asyncio.run(fuzz_staff(INPUTS, "smoke", tmp_path / "crashes"))
    assert len(results) == len(ROUTES)
    for result in results:
        problems = result.samples + result.reproducers
        assert result.inputs == INPUTS, result.name
        assert (result.server_errors, result.exceptions, result.error_logs) == (0, 0, 0), (result.name, problems)
        # The generators get past authentication and validation (2xx, 3xx) and are also refused (4xx).
        assert any(200 <= code < 400 for code in result.statuses), (result.name, result.statuses)
        assert any(400 <= code < 500 for code in result.statuses), (result.name, result.statuses)
    assert not (tmp_path / "crashes").exists()
    # 到场登记: the page with a session, and the 已到/未到 POST reaching each of its answers — marked, a
    # wrong or missing CSRF token, no such booking, a booking not yet begun or cancelled.
    by_name = {r.name.split(" (")[0]: r for r in results}
    assert 200 in by_name["staff GET /attendance"].statuses
    assert {200, 403, 404, 409} <= set(by_name["staff POST /api/bookings/{code}/attendance"].statuses)


# ------------------------------------------------------------------ the harness catches failures


async def _ok(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _boom(_: Request) -> PlainTextResponse:
    raise RuntimeError("a bug the fuzzer must report")


async def _five_hundred(_: Request) -> JSONResponse:
    return JSONResponse({"error": "down"}, status_code=503)


async def _logs_an_error(_: Request) -> PlainTextResponse:
    logging.getLogger("some.library").error("something broke quietly")
    return PlainTextResponse("ok")


BROKEN = Starlette(
    routes=[
        StarletteRoute("/ok", _ok),
        StarletteRoute("/boom", _boom),
        StarletteRoute("/down", _five_hundred),
        StarletteRoute("/quiet", _logs_an_error),
    ]
)


def test_the_harness_counts_5xx_escaped_exceptions_and_error_logs_and_saves_reproducers(tmp_path: Path) -> None:
    paths = ["/ok", "/boom", "/down", "/quiet", "/ok"]
    route = Route("broken", BROKEN, lambda i: Probe("GET", paths[i % len(paths)], body=b"x" * i))

    async def scenario() -> None:
        with watching_logs() as logs:
            result = await run_route(route, 10, "s", logs, tmp_path)
        assert result.inputs == 10
        assert result.statuses == {200: 6, 500: 2, 503: 2}
        assert (result.server_errors, result.exceptions, result.error_logs) == (4, 2, 2)
        saved = sorted(tmp_path.glob("broken-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        assert [int(p.stem.split("-")[1]) for p in saved] == [1, 2, 3, 6, 7, 8]
        record = json.loads(saved[0].read_text(encoding="utf-8"))
        assert record["probe"]["path"] == "/boom" and any("RuntimeError" in why for why in record["why"])
        assert Probe.from_json(record["probe"]).body == b"x"
        # A saved input fails again when replayed; a fixed one would not.
        assert await replay(BROKEN, saved[:1]) == 1

    asyncio.run(scenario())


def test_a_time_budget_stops_a_route_early_and_the_report_says_so(tmp_path: Path) -> None:
    async def slow(_: Request) -> PlainTextResponse:
        await asyncio.sleep(0.01)
        return PlainTextResponse("ok")

    app = Starlette(routes=[StarletteRoute("/slow", slow)])
    route = Route("slow", app, lambda _: Probe("GET", "/slow"))

    async def scenario() -> int:
        with watching_logs() as logs:
            result = await run_route(route, 100_000, "s", logs, tmp_path, seconds=0.2)
        assert 0 < result.inputs < 100_000 and result.goal == 100_000
        return result.inputs

    sent = asyncio.run(scenario())
    report = {
        "meta": {
            "date": "d",
            "commit": "c",
            "dirty": False,
            "cores": 2,
            "load_start": "1",
            "load_end": "1",
            "seed": "s",
            "inputs_goal": 100_000,
            "budget_s": 0.2,
        },
        "parts": [],
        "problems": [],
        "failures": 0,
        "short_of_goal": ["slow"],
        "status": "ok",
        "total_s": 1.0,
    }
    assert sent < 100_000
    assert "Short of the 100,000-input goal" in render_markdown(report) and "slow" in render_markdown(report)


def test_inputs_are_reproducible_from_the_seed() -> None:
    def sample(seed: str) -> list[bytes]:
        m = Mutator(seed)
        return [m.json_body({"message": "你好", "sender": "a"}) + m.xml({"Content": "x"}) for _ in range(200)]

    assert sample("1") == sample("1")
    assert sample("1") != sample("2")


def test_an_answer_that_never_ends_is_reported_as_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    import fuzz.core

    async def hangs(scope: object, receive: object, send: object) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(fuzz.core, "REQUEST_TIMEOUT_S", 0.1)

    async def scenario() -> None:
        answer = await call(hangs, Probe("GET", "/"))
        assert answer.status == 599 and answer.error is not None and "hang" in answer.error

    asyncio.run(scenario())


def test_the_report_compares_the_two_passes_input_by_input() -> None:
    parts = [
        {"part": "channels", "routes": [{"route": "r", "first_statuses": [200, 400, 413, 401]}]},
        {"part": "channels-live", "routes": [{"route": "r [HTTP]", "first_statuses": [200, 400, 400]}]},
    ]
    assert compare(parts) == [{"route": "r", "compared": 3, "same": 2, "differ": [(2, 413, 400)]}]
