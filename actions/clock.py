"""The actions' clock: Shanghai wall-clock time, in one place so tests can set "today"."""

from __future__ import annotations

import datetime as dt

from bookings.catalog import SHANGHAI


def now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)
