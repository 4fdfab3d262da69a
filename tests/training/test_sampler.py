"""ArchSampler: draws as a pure function of (seed, step, replica), with or without a window."""

import pytest

from ghnq_tf.training.sampler import ArchSampler


def test_draws_are_distinct_and_repeatable():
    sampler = ArchSampler(num_archs=10, meta_batch=4, bits=(2, 4), seed=3)
    for step in range(20):
        indices, bits = sampler.draw(step=step, replica=1)
        assert len(set(indices)) == 4 and all(0 <= i < 10 for i in indices)
        assert set(bits) <= {2, 4}
        assert (indices, bits) == sampler.draw(step=step, replica=1)
    # Without a window, 20 steps of 4 reach (nearly) the whole pool of 10.
    seen = {i for step in range(20) for i in sampler.draw(step=step)[0]}
    assert len(seen) == 10


def test_window_draws_only_from_the_sliding_window():
    sampler = ArchSampler(num_archs=10, meta_batch=2, bits=[4], window=3, window_steps=5)
    for step in range(60):
        start = step // 5
        window = {(start + j) % 10 for j in range(3)}
        indices, _ = sampler.draw(step=step)
        assert set(indices) <= window, (step, indices, window)
    # It wraps around the pool: the window of steps 45..49 is networks 9, 0, 1.
    assert {i for s in range(45, 50) for i in sampler.draw(step=s)[0]} <= {9, 0, 1}
    # Every network of the pool is drawn within one turn of the window (50 steps).
    assert {i for s in range(50) for i in sampler.draw(step=s)[0]} == set(range(10))


def test_window_bounds_the_networks_a_run_meets():
    # A window of 8 sliding every 4 steps meets at most 8 + 100 / 4 networks in
    # 100 steps: what keeps a 256-network pool inside a 64-network cache.
    sampler = ArchSampler(num_archs=256, meta_batch=4, bits=[4], window=8, window_steps=4)
    seen = {i for s in range(100) for i in sampler.draw(step=s)[0]}
    assert 25 <= len(seen) <= 8 + 100 // 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 1}, r"`window` must be in 2..10 .* Received: window=1"),
        ({"window": 11}, r"`window` must be in 2..10 .* Received: window=11"),
        ({"window": 4, "window_steps": 0}, r"`window_steps` must be >= 1. Received"),
    ],
)
def test_bad_window_is_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ArchSampler(num_archs=10, meta_batch=2, bits=[4], **options)
