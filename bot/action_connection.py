"""Rasa's calls to the action server over kept-alive connections.

Rasa 3.6's ``EndpointConfig.request`` opens a new aiohttp ``ClientSession`` for every call, so every
action call also opens (and the action server accepts) a new TCP connection: about 5 % of the Rasa
process's time in a knowledge turn (py-spy, ``bench/results/speed/``). An endpoint in ``endpoints.yml``
with ``keep_alive: true`` (the action endpoint) is instead called through one session per event loop, whose
connections stay open between calls. Everything else about a call is as before: the URL, headers, query
parameters, CA file, compression and timeout; an answer of 400 or more raises Rasa's own
``ClientResponseError`` with the body; a body that is not JSON gives ``None``. Other endpoints are untouched.

An action server that runs several processes on one port (``--workers``, ``SO_REUSEPORT``) closes each
connection after its answer (actions/server.py), so that the kernel still spreads the calls over them.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

import aiohttp
from aiohttp.client_exceptions import ContentTypeError

KEEP_ALIVE = "keep_alive"
# An idle connection is dropped by this side after this many seconds, sooner than any server here drops it (the
# action server's Sanic after 120 s, nginx in the cluster after 75 s, or less if so configured), so that a call
# does not go out on a connection the server is closing at that moment (action calls are never retried).
IDLE_SECONDS = 2.0

# One session per (event loop, endpoint): a session belongs to the loop it was made in.
_sessions: dict[tuple[int, int], aiohttp.ClientSession] = {}


def _session(endpoint: Any) -> aiohttp.ClientSession:
    key = (id(asyncio.get_running_loop()), id(endpoint))
    session = _sessions.get(key)
    if session is None or session.closed:
        auth = None
        if endpoint.basic_auth:
            auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
        connector = aiohttp.TCPConnector(keepalive_timeout=IDLE_SECONDS)
        session = aiohttp.ClientSession(headers=endpoint.headers, auth=auth, connector=connector)
        _sessions[key] = session
    return session


async def close_sessions() -> None:
    """Close this loop's sessions (when the server stops)."""
    loop = id(asyncio.get_running_loop())
    for key in [k for k in _sessions if k[0] == loop]:
        await _sessions.pop(key).close()


def install() -> None:
    """Route ``EndpointConfig.request`` of every endpoint with ``keep_alive: true`` through a kept session, and
    close the sessions where Rasa's after-server-stop listener (``rasa.core.run.close_resources``) runs."""
    import rasa.core.run as run_module
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url
    from sanic import Sanic

    original_request = EndpointConfig.request
    if getattr(original_request, "kept_alive", False):
        return

    async def request(
        self: EndpointConfig,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        if not (_wanted(self.kwargs.get(KEEP_ALIVE)) and self.url) or (self.cafile and not os.path.exists(self.cafile)):
            # Not asked for; or no URL, or a CA file that is not there, which Rasa's own request reports in its words.
            return await original_request(self, method, subpath, content_type, compress, **kwargs)
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.pop("headers", None) or {})
        headers.update(self.headers)
        params = self.combine_parameters(kwargs)
        async with _session(self).request(
            method,
            concat_url(self.url, subpath),
            headers=headers,
            params=params,
            compress=compress,
            ssl=context,
            **kwargs,
        ) as response:
            if response.status >= 400:
                # The body's bytes, as Rasa's own request passes them (RemoteAction json-decodes a 400's body).
                body: Any = await response.content.read()
                raise ClientResponseError(response.status, response.reason or "", body)
            try:
                return await response.json()
            except ContentTypeError:
                return None

    request.kept_alive = True  # type: ignore[attr-defined]
    EndpointConfig.request = request  # type: ignore[method-assign]
    original_close = run_module.close_resources

    async def close_resources(app: Sanic, _: asyncio.AbstractEventLoop) -> None:  # Rasa's listener's signature
        await close_sessions()
        await original_close(app, _)

    run_module.close_resources = close_resources


def _wanted(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
