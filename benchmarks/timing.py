"""Small timing helpers: wall-clock samples in milliseconds and their summaries."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed_ms(function: Callable, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, result


def percentile(samples: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), pct in 0-100."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: list[float]) -> dict:
    """Median, p50, p95, min, max (ms) and the samples themselves, rounded for the JSON."""
    if not samples:
        return {"n": 0, "samples_ms": []}
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 2),
            "p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2),
            "min_ms": round(min(samples), 2), "max_ms": round(max(samples), 2),
            "samples_ms": [round(s, 2) for s in samples]}
