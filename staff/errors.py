"""The staff package's exceptions, in the project's tree (:mod:`common.errors`): a domain "no" versus "cannot now"."""

from __future__ import annotations

from common import errors as common_errors


class StaffError(common_errors.YinlingError):
    """Root of every error raised by the staff package."""


class StaffConfigError(StaffError, common_errors.ConfigError):
    """A setting is malformed; the message names the variable and what to change."""


class NotFound(StaffError, common_errors.Refusal, LookupError):
    """No such thing, or the caller may not see it (both look the same from outside)."""


class Conflict(StaffError, common_errors.Refusal):
    """The thing is not in a state that allows this (already claimed, already closed …)."""


class InvalidInput(StaffError, common_errors.Refusal, ValueError):
    """A request carried a value that cannot be used; the message says which and why."""


class Unavailable(StaffError, common_errors.Unavailable):
    """A service the staff app depends on (Rasa, the database) did not answer; try again later."""
