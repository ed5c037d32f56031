"""Start the Rasa server the way this project needs it: ``python -m bot.server run --model … [rasa run options]``.

The same command line as ``rasa run``, with three things set before Rasa starts:

- every log record of the process is redacted (:mod:`common.redact`): Rasa logs whole action
  requests when an action fails, and Sanic logs request URLs with their query strings;
- a custom action that does not answer within ``YINLING_ACTION_TIMEOUT`` seconds (default 8) is
  given up, instead of after Rasa's built-in 5 minutes: the channel's guard then apologises and
  points to the hotline, and emergencies (answered by Rasa alone) never wait for the action server;
- Rasa's telemetry is off;
- the action server's answers are checked against Rasa's response schema by a validator built
  once, not by ``jsonschema.validate``, which checks the schema itself against the JSON Schema
  meta-schema on every call: that check was a fifth of the Rasa process's CPU time in a
  knowledge turn (py-spy, bench/results/profile/). Same schema, same errors
  (``YINLING_ACTION_SCHEMA_CACHE=0`` restores Rasa's own, for the bench's before/after);
- calls to an endpoint with ``keep_alive: true`` (the action server, ``endpoints.yml``) reuse their
  connections instead of opening one per call (:mod:`bot.action_connection`);
- with ``--enable-api``, the JWT secret for Rasa's HTTP API (used by the staff app) is taken from
  ``YINLING_RASA_JWT_SECRET`` inside the process, so it never appears in the process list.
"""

from __future__ import annotations

import os
import sys
from typing import Any

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
    if os.environ.get("YINLING_ACTION_SCHEMA_CACHE", "1") != "0":
        install_cached_response_validation(remote_actions.RemoteAction)
    from bot import action_connection

    action_connection.install()
    sys.argv = ["rasa", *sys.argv[1:], *jwt_arguments(sys.argv[1:])]
    rasa_main()


def install_cached_response_validation(remote_action: Any) -> None:
    """``RemoteAction._validate_action_result`` with one validator built (and its schema checked) once.

    Rasa 3.6 calls ``jsonschema.validate(result, spec)`` for every action server answer, which
    first validates ``spec`` against the meta-schema. The spec never changes, so that is done once
    here; the answer itself is validated exactly as before and a bad one raises the same
    ``ValidationError`` with Rasa's explanation appended.
    """
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    spec = remote_action.action_response_format_spec()
    cls = validator_for(spec)
    cls.check_schema(spec)
    validator = cls(spec)
    original = remote_action._validate_action_result

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        # Rasa's own method raises the same error with its explanation appended.
        return bool(original(self, result))

    remote_action._validate_action_result = validate_action_result


def jwt_arguments(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``--jwt-secret=<secret>`` when the HTTP API is on: it must never be open without one.

    One argument with ``=``: a random secret may start with "-" (``secrets.token_urlsafe`` draws from
    A–Z, a–z, 0–9, "-" and "_"), which argparse would take for an option and refuse the whole command line.
    """
    given = any(a == "--jwt-secret" or a.startswith("--jwt-secret=") for a in argv)
    if "--enable-api" not in argv or given:
        return []
    secret = (env if env is not None else dict(os.environ)).get("YINLING_RASA_JWT_SECRET", "")
    if len(secret) < 16:
        raise SystemExit("--enable-api needs YINLING_RASA_JWT_SECRET (16+ characters); `make run` sets it")
    return [f"--jwt-secret={secret}"]


if __name__ == "__main__":
    main()
