"""Care's errors, in the project's tree (common/errors.py)."""

from __future__ import annotations

from common.errors import ConfigError, Refusal, Unavailable, YinlingError


class CareError(YinlingError):
    """Root of care's errors."""


class CareUnavailable(CareError, Unavailable):
    """The database or a platform did not answer; trying again later is safe."""


class CareConfigError(CareError, ConfigError):
    """A CARE_* / SMS_* setting is wrong; the message says which and what to set."""


class CareRefusal(CareError, Refusal):
    """A domain "no" (an unknown or expired code, a time in quiet hours …)."""


class ConsentRequired(CareRefusal):
    """The person has not agreed to this use of their data yet; ask first."""

    def __init__(self, purpose: str) -> None:
        super().__init__(f"consent for {purpose!r} is not recorded")
        self.purpose = purpose


class ConsentOutdated(CareRefusal):
    """The person agreed to an older text of this consent: what the newer text adds is not agreed yet."""

    def __init__(self, purpose: str, address: str = "") -> None:
        super().__init__(f"consent for {purpose!r} was given to an older text")
        self.purpose = purpose
        self.address = address  # whose consent it is


class SendFailed(CareError):
    """A sender could not deliver. ``permanent``: retrying will not help (blocked, unknown user)."""

    def __init__(self, reason: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
