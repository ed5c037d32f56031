"""The harness's exceptions: a part that cannot measure raises, and the report says why."""

from __future__ import annotations

from common.errors import ConfigError, YinlingError


class BenchError(YinlingError):
    """A part of the benchmark could not measure what it should; the message says why."""


class BenchConfigError(BenchError, ConfigError):
    """An option or input of the harness is unusable; the message says what to change."""
