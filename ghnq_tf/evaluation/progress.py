"""`gq.evaluate`'s progress bar, and running a chunk with per-architecture failures isolated."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ghnq_tf._keras import keras
from ghnq_tf.evaluation import baselines as bl


class Progress:
    """The progress bar: its position and the running mean GHN top-1 per bitwidth.

    Args:
        total: evaluations the run makes (resumed ones included).
        bits: the bitwidths.
        show: draw a `keras.utils.Progbar` (else only count).
    """

    def __init__(self, total: int, bits: Sequence[int], *, show: bool) -> None:
        self.count = 0
        self.sums = {b: [0.0, 0] for b in bits}
        names = [f"ghn_w{b}" for b in bits]
        self.bar = (
            keras.utils.Progbar(total, unit_name="eval", stateful_metrics=names) if show else None
        )

    def tick(self, method: str, b: int, accuracy: float, *, show: bool = True) -> None:
        """One evaluation done: `method`'s top-1 at `b` bits."""
        self.count += 1
        if method == bl.GHN:
            self.sums[b][0] += accuracy
            self.sums[b][1] += 1
        if show:
            self.show()

    def show(self) -> None:
        """Draws the bar at its position with the running means."""
        if self.bar is not None:
            means = [(f"ghn_w{b}", s / n) for b, (s, n) in self.sums.items() if n]
            self.bar.update(self.count, values=means)

    def state(self) -> tuple[int, dict[int, tuple[float, int]]]:
        """A copy of the position and the sums, for `restore`."""
        return self.count, {b: (s, n) for b, (s, n) in self.sums.items()}

    def restore(self, state: tuple[int, dict[int, tuple[float, int]]], *, skip: int = 0) -> None:
        """Back to `state` (dropping a failed run's ticks), then `skip` units on."""
        self.count = state[0] + skip
        self.sums = {b: [s, n] for b, (s, n) in state[1].items()}
        self.show()


def run_isolating_failures(
    run: Any, archs: list[Any], units: Any, progress: Progress
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs a chunk; if it raises, each architecture alone, recording failures.

    Args:
        run: `run_chunk` with every argument but the architectures bound.
        archs: the chunk.
        units: arch → its progress-bar units (evaluations it ticks).
        progress: the `Progress`. A failed run's ticks are taken back, so
            the running means hold finished networks only, and the bar moves
            past a failed architecture so that it still ends at its total.

    Returns:
        (records of the architectures that ran, failures: `{**info, index,
        name, error}` of the ones that raised).
    """
    start = progress.state()
    try:
        return run(archs), []
    except Exception as err:  # noqa: BLE001 - a per-network error is recorded, not raised
        if len(archs) == 1:
            arch = archs[0]
            failure = {**arch.info, "index": arch.index, "name": arch.name}
            failure["error"] = f"{type(err).__name__}: {err}"
            warnings.warn(f"{arch.name} failed and is skipped: {failure['error']}", stacklevel=3)
            progress.restore(start, skip=units(arch))
            return [], [failure]
    progress.restore(start)
    records, failures = [], []
    for arch in archs:
        part, failed = run_isolating_failures(run, [arch], units, progress)
        records += part
        failures += failed
    return records, failures
