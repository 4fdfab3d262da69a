"""Which architectures a training step uses: a pure function of (seed, step, replica).

The draw happens in Python at every step (the trainer's outer step runs
eagerly), so it never freezes into a traced graph. It depends only on the
optimizer's step counter, which Keras checkpoints with the optimizer: a run
resumed from a checkpoint draws exactly the architectures the interrupted run
would have drawn. Each replica of a distributed run draws its own networks.

With a `window`, a step draws from a window of consecutive pool networks that
slides by one network every `window_steps` steps (wrapping around the pool):
a pool larger than the cache of built networks then costs one build per
`window_steps` steps instead of a build at most draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ArchSampler:
    """Draws `meta_batch` distinct architecture indices per step (and bitwidths).

    Example:
        sampler = ArchSampler(num_archs=1000, meta_batch=8, bits=(2, 4, 8), seed=0)
        indices, bits = sampler.draw(step=0, replica=0)

    Args:
        num_archs: size of the architecture pool.
        meta_batch: architectures per step and replica.
        bits: the bitwidths to draw from, one per architecture (a single
            value means fixed bits).
        seed: seed of the whole sequence of draws.
        window: draw from this many consecutive networks of the pool, a window
            that slides by one every `window_steps` steps; None: the whole pool.
        window_steps: steps between two slides of the window.
    """

    def __init__(
        self,
        *,
        num_archs: int,
        meta_batch: int,
        bits: Sequence[int],
        seed: int = 0,
        window: int | None = None,
        window_steps: int = 4,
    ) -> None:
        if num_archs < 1:
            raise ValueError(f"`archs` must not be empty. Received: {num_archs} architectures")
        if not 1 <= meta_batch <= num_archs:
            raise ValueError(
                f"`meta_batch` must be in 1..{num_archs} (the number of architectures). "
                f"Received: meta_batch={meta_batch}"
            )
        if window is not None and not meta_batch <= window <= num_archs:
            raise ValueError(
                f"`window` must be in {meta_batch}..{num_archs} (from the meta-batch to the "
                f"number of architectures), or None. Received: window={window}"
            )
        if window_steps < 1:
            raise ValueError(f"`window_steps` must be >= 1. Received: window_steps={window_steps}")
        self.num_archs = num_archs
        self.meta_batch = meta_batch
        self.window = window
        self.window_steps = int(window_steps)
        self.bits = tuple(sorted(set(int(b) for b in bits)))
        self.seed = seed

    def draw(self, *, step: int, replica: int = 0) -> tuple[list[int], list[int]]:
        """The (architecture indices, bitwidths) of `step` on `replica`."""
        rng = np.random.default_rng([self.seed, int(step), int(replica)])
        if self.window is None:
            indices = rng.choice(self.num_archs, size=self.meta_batch, replace=False)
        else:
            start = int(step) // self.window_steps
            chosen = rng.choice(self.window, size=self.meta_batch, replace=False)
            indices = (start + chosen) % self.num_archs
        bits = rng.choice(self.bits, size=self.meta_batch)
        return [int(i) for i in indices], [int(b) for b in bits]
