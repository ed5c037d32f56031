"""The staff app's settings, all from the environment (documented in the README, "Staff app").

Unknown ``STAFF_*`` variables are refused: a typo such as ``STAFF_UNCLAIMED_MINUTE=5`` would
otherwise be silently ignored and the default used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from staff.errors import StaffConfigError
from staff.hours import WorkingHours

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = f"sqlite:///{ROOT / 'var' / 'staff.sqlite'}"

KNOWN = {
    "STAFF_DATABASE_URL": "the staff database (default: DATABASE_URL, else var/staff.sqlite)",
    "STAFF_WORKING_HOURS": "when agents work, e.g. 'mon-fri 08:30-17:30; sat 09:00-12:00'",
    "STAFF_UNCLAIMED_MINUTES": "minutes a waiting conversation may stay unclaimed before it becomes a callback ticket",
    "STAFF_IDLE_MINUTES": "minutes without activity before a staff session ends",
    "STAFF_SESSION_HOURS": "hours a staff session lasts at most",
    "STAFF_LOCKOUT_FAILURES": "failed logins in a row that lock an account",
    "STAFF_LOCKOUT_MINUTES": "minutes an account stays locked",
    "STAFF_MINUTES_PER_WAITING": "minutes of waiting announced per conversation ahead in the queue",
    "STAFF_PRESENCE_SECONDS": "seconds after an agent's last heartbeat that they still count as online",
    "STAFF_RASA_URL": "the Rasa server (its HTTP API must be enabled), e.g. http://127.0.0.1:5005",
    "STAFF_COOKIE_SECURE": "1 to mark cookies Secure (behind TLS); default: when the request came over https",
    "STAFF_HOST": "address the staff app listens on",
    "STAFF_PORT": "port the staff app listens on",
    "STAFF_URL": "where other processes reach the staff app (set by make run)",
    "STAFF_MAX_BODY_BYTES": "largest request body accepted",
    "STAFF_UNANSWERED_DAYS": "days unanswered questions are kept before the retention job deletes them",
    "STAFF_TRACKER_URL": "Rasa's tracker store for analytics (default: sqlite file YINLING_TRACKER_DB)",
}


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise StaffConfigError(f"{name}={raw!r}: expected a whole number ({KNOWN[name]})") from err
    if not low <= value <= high:
        raise StaffConfigError(f"{name}={raw!r}: must be between {low} and {high} ({KNOWN[name]})")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    hours: WorkingHours
    unclaimed_minutes: int
    idle_minutes: int
    session_hours: int
    lockout_failures: int
    lockout_minutes: int
    minutes_per_waiting: int
    presence_seconds: int
    rasa_url: str
    rasa_jwt_secret: str
    secret: str
    cookie_secure: bool | None
    max_body_bytes: int
    unanswered_days: int = 180
    tracker_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        unknown = sorted(k for k in env if k.startswith("STAFF_") and k not in KNOWN)
        if unknown:
            known = ", ".join(sorted(KNOWN))
            raise StaffConfigError(f"unknown setting(s) {', '.join(unknown)}; the staff app knows {known}")
        secure_raw = env.get("STAFF_COOKIE_SECURE", "").strip().lower()
        if secure_raw not in ("", "0", "1", "true", "false"):
            raise StaffConfigError(f"STAFF_COOKIE_SECURE={secure_raw!r}: use 1 or 0")
        return cls(
            database_url=database_url(env),
            hours=WorkingHours.parse(env.get("STAFF_WORKING_HOURS")),
            unclaimed_minutes=_int(env, "STAFF_UNCLAIMED_MINUTES", 10, 1, 24 * 60),
            idle_minutes=_int(env, "STAFF_IDLE_MINUTES", 30, 1, 24 * 60),
            session_hours=_int(env, "STAFF_SESSION_HOURS", 12, 1, 24 * 7),
            lockout_failures=_int(env, "STAFF_LOCKOUT_FAILURES", 8, 2, 1000),
            lockout_minutes=_int(env, "STAFF_LOCKOUT_MINUTES", 15, 1, 24 * 60),
            minutes_per_waiting=_int(env, "STAFF_MINUTES_PER_WAITING", 3, 1, 120),
            presence_seconds=_int(env, "STAFF_PRESENCE_SECONDS", 60, 5, 3600),
            rasa_url=(env.get("STAFF_RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
            rasa_jwt_secret=env.get("YINLING_RASA_JWT_SECRET", ""),
            secret=env.get("YINLING_STAFF_SECRET", ""),
            cookie_secure=None if not secure_raw else secure_raw in ("1", "true"),
            max_body_bytes=_int(env, "STAFF_MAX_BODY_BYTES", 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
            unanswered_days=_int(env, "STAFF_UNANSWERED_DAYS", 180, 1, 3660),
            tracker_url=env.get("STAFF_TRACKER_URL")
            or (f"sqlite:///{env['YINLING_TRACKER_DB']}" if env.get("YINLING_TRACKER_DB") else ""),
        )

    def require_secrets(self) -> None:
        """The web app needs both secrets; the bot's handoff action needs neither."""
        if len(self.secret) < 16:
            raise StaffConfigError(
                "YINLING_STAFF_SECRET must be set to a secret of at least 16 characters "
                "(make run creates one in var/secrets.json)"
            )
        if len(self.rasa_jwt_secret) < 16:
            raise StaffConfigError(
                "YINLING_RASA_JWT_SECRET must be set (at least 16 characters), the same as Rasa's --jwt-secret"
            )


def database_url(env: Mapping[str, str] | None = None) -> str:
    """``STAFF_DATABASE_URL``, else ``DATABASE_URL``, else var/staff.sqlite."""
    env = os.environ if env is None else env
    return env.get("STAFF_DATABASE_URL") or env.get("DATABASE_URL") or DEFAULT_DB_URL
