"""Every exception class of the app runtime's packages is in the project's one tree (tests/errors_contract.py)."""

from __future__ import annotations

from common.errors import ConfigError, Refusal, Unavailable
from tests.errors_contract import APP_PACKAGES, exception_classes, import_all, tree_violations


def test_every_exception_of_the_app_runtime_derives_from_yinling_error() -> None:
    classes = exception_classes(import_all(APP_PACKAGES))
    names = {cls.__qualname__ for cls in classes}
    # The walk really found the trees (a walk that finds nothing would pass vacuously).
    assert {"StaffError", "BenchError", "StoreUnavailable", "EntryNotFound", "StackError", "LoginRequired"} <= names
    assert tree_violations(classes) == []


def test_each_family_is_what_a_caller_says() -> None:
    from bench.errors import BenchConfigError
    from bookings.store import BookingConflict, BookingNotFound, StoreUnavailable
    from common.ratelimit import RateLimitConfigError
    from staff import errors as staff_errors
    from textnorm.normalize import NormalizationTableError

    for cannot_now in (StoreUnavailable, BookingConflict, staff_errors.Unavailable):
        assert issubclass(cannot_now, Unavailable) and not issubclass(cannot_now, Refusal)
    for refusal in (BookingNotFound, staff_errors.NotFound, staff_errors.Conflict, staff_errors.InvalidInput):
        assert issubclass(refusal, Refusal) and not issubclass(refusal, Unavailable)
    for config in (BenchConfigError, RateLimitConfigError, NormalizationTableError, staff_errors.StaffConfigError):
        assert issubclass(config, ConfigError) and issubclass(config, ValueError)
