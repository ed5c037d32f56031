"""Run the action server: ``python -m actions.server --port 5055 [--workers N]``.

rasa-sdk's own launcher serves through Sanic's worker manager, which imports the actions
once in the manager and again in a spawned worker (so the knowledge index would be built
twice) and refuses to start once any library has fixed multiprocessing's start method
(bm25s does, while indexing). The same rasa-sdk app, served in a single process, has
neither problem. On top of rasa-sdk's app this server:

- accepts ``/webhook`` calls only with the shared secret the Rasa server sends
  (``X-Yinling-Action-Token``, from ``YINLING_ACTION_TOKEN``; compared in constant time) and
  binds to loopback by default: nobody else can run actions as a user;
- runs each action in a worker thread (``YINLING_ACTION_THREADS``, default 4), in that thread's
  own event loop: actions do blocking work (SQL, faiss, embedding), and one slow database must
  not stall everyone;
- never echoes the request (a whole tracker) in an error response, and redacts every log line;
- with ``--workers N`` (``YINLING_ACTION_WORKERS``, default 1) runs N such single-process servers
  on the same port (``SO_REUSEPORT``: the kernel spreads connections over them), each a fresh
  interpreter started by this one that closes each connection after its answer (Rasa keeps them
  open otherwise, and the kernel spreads connections, not calls). Python runs one thread at a time
  per process, so on a machine with several cores only several processes answer several knowledge questions at once. Each
  worker builds its own index at start, cheaply (embeddings come from the shared on-disk cache),
  and follows the KB's version by itself. The parent only supervises: a worker that dies takes
  the others down with it (the supervisor of ``make run`` / ``make run-cluster`` restarts them).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult, CollectingDispatcher
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.redact import install as install_redaction

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Yinling-Action-Token"  # noqa: S105 - a header name, not a secret
_T = TypeVar("_T")


class ThreadedExecutor(ActionExecutor):
    """Runs every action call in a thread of its own event loop, off the server's loop."""

    def __init__(self, threads: int) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="action")

    def update_and_return_domain(self, payload: dict[str, Any], action_name: str) -> dict[str, Any] | None:
        """The domain of the call, else the last one received, else an empty one.

        ``endpoints.yml`` turns on Rasa's ``enable_selective_domain``: Rasa then sends its domain (60 kB of
        JSON, encoded by Rasa and decoded here on every call) only to the actions that read it, the
        ``validate_*`` ones (the booking form's). rasa-sdk refuses a call without a domain unless it carries a
        digest of one sent before, which Rasa 3.6 never sends; none of the other actions reads the domain.
        """
        if payload.get("domain") is None:
            return self.domain or {}
        return super().update_and_return_domain(payload, action_name)

    async def run(
        self,
        action_call: dict[str, Any],
        sink: asyncio.Queue[Any] | None = None,
        dispatcher: CollectingDispatcher | None = None,
    ) -> ActionExecutorRunResult | None:
        run_here = super().run
        if sink is not None:
            # A streaming caller's queue belongs to this loop: stream here, not from another thread's loop.
            return await run_here(action_call, sink, dispatcher)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: _in_thread_loop(run_here(action_call, None, dispatcher)))


_thread_state = threading.local()


def _in_thread_loop(call: Coroutine[Any, Any, _T]) -> _T:
    """Run ``call`` to its end in this worker thread's own event loop, made at the thread's first call.

    ``asyncio.run`` would make and close a loop (a selector, a socket pair) for every action call: 2-4 % of
    the action server's time in a knowledge turn. Actions start no tasks that outlive their call.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_thread_state, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread_state.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(call)


def secure(app: Sanic[Any, Any], token: str) -> None:
    """Only the Rasa server (which holds the token) may call actions; errors never echo the request."""
    expected = token.encode()

    @app.on_request
    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path != "/webhook":
            return None
        given = (request.headers.get(TOKEN_HEADER) or "").encode()
        if not hmac.compare_digest(given, expected):
            logger.warning("Refused an action call without the right token (from %s).", request.ip)
            return response.json({"error": "unauthorized"}, status=401)
        return None

    async def no_echo(request: Request, exception: Exception) -> HTTPResponse:
        logger.error("An action failed: %s", type(exception).__name__, exc_info=exception)
        return response.json({"error": "the action failed; see the action server's log"}, status=500)

    # rasa-sdk's own handler for Exception answers with {"request_body": <the whole tracker>}: replace it.
    app.error_handler.cached_handlers[(Exception, None)] = no_echo


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind to the same address (``SO_REUSEPORT``)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def supervise_workers(argv: list[str], workers: int) -> int:
    """Start ``workers`` single-process servers on one port; stop them all when one ends or on SIGTERM."""
    command = [sys.executable, "-m", "actions.server", *argv, "--workers", "1", "--reuse-port"]
    children = [subprocess.Popen(command) for _ in range(workers)]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        ended = [child for child in children if child.poll() is not None]
        if ended:
            code = ended[0].returncode or 1
            logger.error("An action-server worker exited with code %s; stopping the others.", ended[0].returncode)
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("YINLING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("YINLING_ACTION_PORT", "5055")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("YINLING_ACTION_WORKERS", "1")),
        help="server processes on this port (default: YINLING_ACTION_WORKERS, else 1)",
    )
    parser.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT (set for each worker)")
    args = parser.parse_args()
    install_redaction()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    token = os.environ.get("YINLING_ACTION_TOKEN", "")
    if len(token) < 16:
        raise SystemExit("YINLING_ACTION_TOKEN must be set (16+ characters); `make run` sets it from var/secrets.json")
    if not 1 <= args.workers <= 64:
        raise SystemExit(f"--workers {args.workers}: choose between 1 and 64 (YINLING_ACTION_WORKERS)")
    if args.workers > 1:
        # Before anything heavy is imported here: each worker loads the actions (and the index) itself.
        raise SystemExit(supervise_workers(["--host", args.host, "--port", str(args.port)], args.workers))
    executor = ThreadedExecutor(int(os.environ.get("YINLING_ACTION_THREADS", "4")))
    executor.register_package("actions")
    app = create_app(executor)
    secure(app, token)
    if args.reuse_port:
        # One of several processes on this port: the kernel spreads connections, not calls, over them, and
        # Rasa keeps its connections open (bot/action_connection.py): close each after its answer, so that
        # every call is spread anew.
        app.config.KEEP_ALIVE = False
        sock = reuse_port_socket(args.host, args.port)
        app.run(sock=sock, single_process=True, access_log=False, motd=False)
    else:
        app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False, backlog=1024)


if __name__ == "__main__":
    main()
