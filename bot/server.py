"""Start the Rasa server the way this project needs it: ``python -m bot.server run --model … [rasa run options]``.

The same command line as ``rasa run``, with three things set before Rasa starts:

- every log record of the process is redacted (:mod:`common.redact`): Rasa logs whole action
  requests when an action fails, and Sanic logs request URLs with their query strings;
- a custom action that does not answer within ``YINLING_ACTION_TIMEOUT`` seconds (default 8) is
  given up, instead of after Rasa's built-in 5 minutes: the channel's guard then apologises and
  points to the hotline, and emergencies (answered by Rasa alone) never wait for the action server;
- Rasa's telemetry is off;
- with ``--enable-api``, the JWT secret for Rasa's HTTP API (used by the staff app) is taken from
  ``YINLING_RASA_JWT_SECRET`` inside the process, so it never appears in the process list.
"""

from __future__ import annotations

import os
import sys

from common.redact import install as install_redaction

DEFAULT_ACTION_TIMEOUT_S = 8.0


def action_timeout(env: dict[str, str] | None = None) -> float:
    raw = (env if env is not None else dict(os.environ)).get("YINLING_ACTION_TIMEOUT", "")
    if not raw:
        return DEFAULT_ACTION_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError as err:
        raise SystemExit(f"YINLING_ACTION_TIMEOUT={raw!r}: expected a number of seconds, e.g. 8") from err
    if not 0.5 <= value <= 300:
        raise SystemExit(f"YINLING_ACTION_TIMEOUT={raw!r}: choose between 0.5 and 300 seconds")
    return value


def main() -> None:
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    os.environ.pop("SENTRY_DSN", None)
    install_redaction()
    timeout = action_timeout()
    import rasa.core.actions.action as remote_actions
    from rasa.__main__ import main as rasa_main

    # RemoteAction reads this module-level name on every call (forms' validation actions too).
    # Rasa imports it from its constants (not re-exported) and annotates it int; it only reaches
    # aiohttp's ClientTimeout(total=...), which takes a float.
    remote_actions.DEFAULT_REQUEST_TIMEOUT = timeout  # type: ignore[assignment,attr-defined]
    sys.argv = ["rasa", *sys.argv[1:], *jwt_arguments(sys.argv[1:])]
    rasa_main()


def jwt_arguments(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``--jwt-secret <secret>`` when the HTTP API is on: it must never be open without one."""
    if "--enable-api" not in argv or "--jwt-secret" in argv:
        return []
    secret = (env if env is not None else dict(os.environ)).get("YINLING_RASA_JWT_SECRET", "")
    if len(secret) < 16:
        raise SystemExit("--enable-api needs YINLING_RASA_JWT_SECRET (16+ characters); `make run` sets it")
    return ["--jwt-secret", secret]


if __name__ == "__main__":
    main()
