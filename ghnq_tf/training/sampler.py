"""Which architectures a training step uses: a pure function of (seed, step, replica).

The draw happens in Python at every step (the trainer's outer step runs
eagerly), so it never freezes into a traced graph. It depends only on the
optimizer's step counter, which Keras checkpoints with the optimizer: a run
resumed from a checkpoint draws exactly the architectures the interrupted run
would have drawn. Each replica of a distributed run draws its own networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ArchSampler:
    """Draws `meta_batch` distinct architecture indices per step (and bitwidths).

    Example:
        >>> sampler = ArchSampler(num_archs=1000, meta_batch=8, bits=(2, 4, 8), seed=0)
        >>> indices, bits = sampler.draw(step=0, replica=0)

    Args:
        num_archs: size of the architecture pool.
        meta_batch: architectures per step and replica.
        bits: the bitwidths to draw from, one per architecture (a single
            value means fixed bits).
        seed: seed of the whole sequence of draws.
    """

    def __init__(
        self, *, num_archs: int, meta_batch: int, bits: Sequence[int], seed: int = 0
    ) -> None:
        if num_archs < 1:
            raise ValueError(f"`archs` must not be empty. Received: {num_archs} architectures")
        if not 1 <= meta_batch <= num_archs:
            raise ValueError(
                f"`meta_batch` must be in 1..{num_archs} (the number of architectures). "
                f"Received: meta_batch={meta_batch}"
            )
        self.num_archs = num_archs
        self.meta_batch = meta_batch
        self.bits = tuple(sorted(set(int(b) for b in bits)))
        self.seed = seed

    def draw(self, *, step: int, replica: int = 0) -> tuple[list[int], list[int]]:
        """The (architecture indices, bitwidths) of `step` on `replica`."""
        rng = np.random.default_rng([self.seed, int(step), int(replica)])
        indices = rng.choice(self.num_archs, size=self.meta_batch, replace=False)
        bits = rng.choice(self.bits, size=self.meta_batch)
        return [int(i) for i in indices], [int(b) for b in bits]
