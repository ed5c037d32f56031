"""Run the action server in one process: ``python -m actions.server --port 5055``.

rasa-sdk's own launcher serves through Sanic's worker manager, which imports the actions
once in the manager and again in a spawned worker (so the knowledge index would be built
twice) and refuses to start once any library has fixed multiprocessing's start method
(bm25s does, while indexing). The same rasa-sdk app, served in a single process, has
neither problem. On top of rasa-sdk's app this server:

- accepts ``/webhook`` calls only with the shared secret the Rasa server sends
  (``X-Yinling-Action-Token``, from ``YINLING_ACTION_TOKEN``; compared in constant time) and
  binds to loopback by default: nobody else can run actions as a user;
- runs each action in a worker thread (``YINLING_ACTION_THREADS``, default 4): actions do
  blocking work (SQL, faiss, embedding), and one slow database must not stall everyone;
- never echoes the request (a whole tracker) in an error response, and redacts every log line.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.redact import install as install_redaction

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Yinling-Action-Token"  # noqa: S105 - a header name, not a secret


class ThreadedExecutor(ActionExecutor):
    """Runs every action call in a thread of its own event loop, off the server's loop."""

    def __init__(self, threads: int) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="action")

    async def run(self, action_call: dict[str, Any]) -> Any:
        run_here = super().run
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: asyncio.run(run_here(action_call)))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("YINLING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("YINLING_ACTION_PORT", "5055")))
    args = parser.parse_args()
    install_redaction()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    token = os.environ.get("YINLING_ACTION_TOKEN", "")
    if len(token) < 16:
        raise SystemExit("YINLING_ACTION_TOKEN must be set (16+ characters); `make run` sets it from var/secrets.json")
    executor = ThreadedExecutor(int(os.environ.get("YINLING_ACTION_THREADS", "4")))
    executor.register_package("actions")
    app = create_app(executor)
    secure(app, token)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
