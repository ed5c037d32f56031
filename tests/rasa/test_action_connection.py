"""Rasa's calls to an endpoint with ``keep_alive: true`` reuse their connection and otherwise behave as Rasa's own
(bot/action_connection.py), against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot import action_connection

action_connection.install()


async def _serve(seen: dict[str, Any]) -> tuple[web.AppRunner, str]:
    async def webhook(request: web.Request) -> web.Response:
        seen["peers"].add(request.transport.get_extra_info("peername") if request.transport else None)
        seen["headers"].append(dict(request.headers))
        seen["query"].append(dict(request.query))
        body = await request.json()
        if body.get("fail"):
            return web.Response(status=400, text='{"error": "no"}')
        if body.get("plain"):
            return web.Response(text="not json")
        return web.json_response({"echo": body})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/webhook"


def _calls(keep_alive: bool) -> dict[str, Any]:
    seen: dict[str, Any] = {"peers": set(), "headers": [], "query": []}

    async def run() -> dict[str, Any]:
        runner, url = await _serve(seen)
        try:
            kwargs = {"keep_alive": True} if keep_alive else {}
            endpoint = EndpointConfig(url, params={"p": "1"}, headers={"X-Token": "t"}, **kwargs)
            answers = [await endpoint.request(json={"n": n}, method="post", timeout=5) for n in range(3)]
            with pytest.raises(ClientResponseError) as failed:
                await endpoint.request(json={"fail": True}, method="post")
            plain = await endpoint.request(json={"plain": True}, method="post")
            await action_connection.close_sessions()
            return {"answers": answers, "status": failed.value.status, "body": failed.value.text, "plain": plain}
        finally:
            await runner.cleanup()

    return {**asyncio.run(run()), **seen}


def test_a_kept_alive_endpoint_reuses_one_connection_and_answers_as_rasas_own() -> None:
    kept, fresh = _calls(keep_alive=True), _calls(keep_alive=False)
    for result in (kept, fresh):
        assert result["answers"] == [{"echo": {"n": n}} for n in range(3)]
        assert (result["status"], result["body"], result["plain"]) == (400, b'{"error": "no"}', None)
        assert all(h["X-Token"] == "t" and h["Content-Type"] == "application/json" for h in result["headers"])
        assert all(q == {"p": "1"} for q in result["query"])
    assert len(kept["peers"]) == 1, "one connection for five calls"
    assert len(fresh["peers"]) == 5, "Rasa's own request opens one per call"


def test_only_endpoints_that_ask_for_it_are_kept_alive() -> None:
    assert action_connection._wanted("true") and action_connection._wanted(True)
    assert not action_connection._wanted(None) and not action_connection._wanted("false")
