"""Care's settings from the environment (``CARE_*``); a bad value is an error that says what to set."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from care.errors import CareConfigError
from care.grid import GridWorkers

_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
KNOWN = frozenset(
    {
        "CARE_QUIET_HOURS",
        "CARE_CHECKIN_RETRY_MINUTES",
        "CARE_CHECKIN_ALERT_MINUTES",
        "CARE_MAX_ATTEMPTS",
        "CARE_BACKOFF_SECONDS",
        "CARE_POLL_SECONDS",
        "CARE_LINK_CODE_MINUTES",
        "CARE_WECHAT_TEMPLATE_ID",
        "CARE_GRID_WORKERS_FILE",
    }
)


@dataclass(frozen=True)
class QuietHours:
    """A nightly span in Shanghai wall-clock minutes, e.g. 21:00–07:00 (it may cross midnight)."""

    start: int = 21 * 60
    end: int = 7 * 60

    def contains_minute(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def contains(self, at: dt.datetime, tz: dt.tzinfo) -> bool:
        local = at.astimezone(tz)
        return self.contains_minute(local.hour * 60 + local.minute)

    def end_after(self, at: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
        """The first moment at or after ``at`` outside quiet hours."""
        if not self.contains(at, tz):
            return at
        local = at.astimezone(tz)
        end = local.replace(hour=self.end // 60, minute=self.end % 60, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end

    def start_before(self, at: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
        """The last minute before the quiet span that holds ``at`` (a reminder moved to the evening before)."""
        if not self.contains(at, tz):
            return at
        local = at.astimezone(tz)
        start = local.replace(hour=self.start // 60, minute=self.start % 60, second=0, microsecond=0)
        if start > local:
            start -= dt.timedelta(days=1)
        return start - dt.timedelta(minutes=1)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _SPAN.match(text.strip())
        if not match:
            raise CareConfigError(f"CARE_QUIET_HOURS={text!r}: expected HH:MM-HH:MM, e.g. 21:00-07:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise CareConfigError(f"CARE_QUIET_HOURS={text!r}: hours 0–23, minutes 0–59")
        return cls(h1 * 60 + m1, h2 * 60 + m2)


@dataclass(frozen=True)
class CareSettings:
    quiet: QuietHours = QuietHours()
    retry_after: dt.timedelta = dt.timedelta(minutes=30)  # no answer → ask again after this
    alert_after: dt.timedelta = dt.timedelta(minutes=30)  # still none → alert family and agents
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    poll_seconds: float = 5.0
    link_code_minutes: int = 30
    # 网格员 told when a check-in goes unanswered twice (CARE_GRID_WORKERS_FILE, else care/grid_workers.yml).
    grid: GridWorkers = field(default_factory=GridWorkers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CareSettings:
        env = os.environ if env is None else env
        unknown = sorted(k for k in env if k.startswith("CARE_") and k not in KNOWN)
        if unknown:
            raise CareConfigError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")

        def number(name: str, default: float, low: float) -> float:
            raw = env.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError as err:
                raise CareConfigError(f"{name}={raw!r}: expected a number, e.g. {default:g}") from err
            if value < low:
                raise CareConfigError(f"{name}={raw!r}: must be at least {low:g}")
            return value

        return cls(
            quiet=QuietHours.parse(env["CARE_QUIET_HOURS"]) if env.get("CARE_QUIET_HOURS") else QuietHours(),
            retry_after=dt.timedelta(minutes=number("CARE_CHECKIN_RETRY_MINUTES", 30, 1)),
            alert_after=dt.timedelta(minutes=number("CARE_CHECKIN_ALERT_MINUTES", 30, 1)),
            max_attempts=int(number("CARE_MAX_ATTEMPTS", 8, 1)),
            backoff_seconds=number("CARE_BACKOFF_SECONDS", 30, 0.01),
            poll_seconds=number("CARE_POLL_SECONDS", 5, 0.05),
            link_code_minutes=int(number("CARE_LINK_CODE_MINUTES", 30, 1)),
            grid=GridWorkers.from_env(env),
        )
