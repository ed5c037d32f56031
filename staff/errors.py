"""One exception tree for the staff package: a domain "no" versus "cannot now"."""

from __future__ import annotations


class StaffError(Exception):
    """Root of every error raised by the staff package."""


class StaffConfigError(StaffError, ValueError):
    """A setting is malformed; the message names the variable and what to change."""


class NotFound(StaffError, LookupError):
    """No such thing, or the caller may not see it (both look the same from outside)."""


class Conflict(StaffError):
    """The thing is not in a state that allows this (already claimed, already closed …)."""


class InvalidInput(StaffError, ValueError):
    """A request carried a value that cannot be used; the message says which and why."""


class Unavailable(StaffError):
    """A service the staff app depends on (Rasa, the database) did not answer; try again later."""
