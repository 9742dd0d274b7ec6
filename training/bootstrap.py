"""Bootstrap confidence intervals: how much a number measured on a few drafts could move.

A statistic is computed once on the items measured and again on `RESAMPLES` resamples of
them drawn with replacement; the middle `CONFIDENCE` of the resampled values is the
interval. Draws come from a seeded generator, so the same items and seed give the same
interval. Two models compared on the same instructions are resampled *paired*: one draw of
item indices serves both, so the interval of their difference leaves out what the
instructions themselves vary by. A statistic takes a (resamples x items) matrix of
indices and returns one value per row, so a whole bootstrap is one numpy expression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95

Statistic = Callable[[np.ndarray], np.ndarray]  # index matrix -> one value per row


@dataclass(frozen=True)
class Interval:
    value: float  # the statistic on the items as measured
    low: float
    high: float

    def excludes(self, point: float) -> bool:
        return point < self.low or point > self.high

    def text(self, number: str = "{:.2f}") -> str:
        """ "0.62 [0.51, 0.71]"."""
        low, high = number.format(self.low), number.format(self.high)
        return f"{number.format(self.value)} [{low}, {high}]"


def draws(items: int, seed: int = 0, resamples: int = RESAMPLES) -> np.ndarray:
    """(resamples x items) indices into `items` things, drawn with replacement."""
    if items < 1:
        raise ValueError("a bootstrap needs at least one item")
    return np.random.default_rng(seed).integers(0, items, size=(resamples, items))


def interval(
    statistic: Statistic, items: int, seed: int = 0, resamples: int = RESAMPLES
) -> Interval:
    """The statistic on all `items`, and its percentile interval over resamples."""
    value = float(statistic(np.arange(items)[None, :])[0])
    return _percentiles(value, statistic(draws(items, seed, resamples)))


def paired(
    candidate: Statistic,
    incumbent: Statistic,
    items: int,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Interval:
    """The interval of candidate - incumbent, both computed on the same resamples."""
    every = np.arange(items)[None, :]
    value = float(candidate(every)[0] - incumbent(every)[0])
    rows = draws(items, seed, resamples)
    return _percentiles(value, candidate(rows) - incumbent(rows))


def mean_of(values: Sequence[float]) -> Statistic:
    array = np.asarray(values, dtype=np.float64)
    return lambda rows: array[rows].mean(axis=1)


def mean_interval(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean of `values` with its interval."""
    return interval(mean_of(values), len(values), seed)


def _percentiles(value: float, replicates: np.ndarray) -> Interval:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    # Widened to hold the measured value, which a skewed statistic's percentiles can miss.
    return Interval(value, min(float(low), value), max(float(high), value))
