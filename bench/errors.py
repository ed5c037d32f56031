"""The harness's exceptions: a part that cannot measure raises, and the report says why."""

from __future__ import annotations


class BenchError(Exception):
    """A part of the benchmark could not measure what it should; the message says why."""


class BenchConfigError(BenchError, ValueError):
    """An option or input of the harness is unusable; the message says what to change."""
