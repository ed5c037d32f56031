"""Percentiles and summaries of timings.

Percentiles interpolate linearly between the two closest ranks (numpy's default
``linear`` method), so p50 of an even number of samples is the mean of the middle two.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bench.errors import BenchError


class NoSamplesError(BenchError, ValueError):
    """A summary of nothing was asked for: a figure that was not measured must not read as 0."""


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        raise NoSamplesError("no samples to take a percentile of")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    if not values:
        raise NoSamplesError("no samples to take a median of")
    return float(statistics.median(values))


def summarize(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    """n, min, p50, p95, p99, max and mean of ``values`` (rounded to ``digits``)."""
    if not values:
        raise NoSamplesError("no samples to summarize")
    return {
        "n": len(values),
        "min": round(min(values), digits),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(statistics.fmean(values), digits),
    }
