"""`make demo`'s job runs end to end on the embedded data."""

from ghnq_tf.demo import run_demo


def test_demo_runs_on_embedded_data(capsys):
    result = run_demo(archs=(0,), bits=(8, 2))
    out = capsys.readouterr().out
    assert "embedded digits (16x16), 360 test images" in out
    assert len(result["rows"]) == 1 and len(result["rows"][0]) == 5
    assert result["litert"]["count"] == 360 and "exported test[0] W8A8 to TFLite" in out
    assert out.rstrip().splitlines()[-1].startswith("next: python examples/cifar10.py")
    if result["ghn"]:  # each GHN prediction's time is printed in its cell
        assert len(result["prediction_seconds"]) == 2
        assert all(f"({s:.1f} s)" in out for s in result["prediction_seconds"])


def test_demo_networks_repeat_their_keras_initialization():
    # The random-init column repeats because each network's Keras
    # initialization is seeded (it was not, and that column moved by up to 4
    # points between runs); its other inputs are fixed (the bundled GHN, an
    # unshuffled calibration batch, the embedded test images).
    import numpy as np

    from ghnq_tf._keras import keras
    from ghnq_tf.demo import _demo_networks

    _, first, _ = _demo_networks((0,), seed=0)
    keras.utils.set_random_seed(123)  # whatever ran before must not matter
    _, again, _ = _demo_networks((0,), seed=0)
    _, other, _ = _demo_networks((0,), seed=1)
    for a, b in zip(first[0].get_weights(), again[0].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [w for w in first[0].get_weights() if w.ndim == 4]
    other_kernels = [w for w in other[0].get_weights() if w.ndim == 4]
    assert not np.array_equal(kernels[0], other_kernels[0])


def test_demo_archs_are_the_first_two_small_test_networks():
    import ghnq_tf as gq
    from ghnq_tf.demo import DEMO_ARCHS, DEMO_SIDE

    nodes = []
    for spec in gq.search_space.split("test", DEMO_ARCHS[-1] + 1):
        model = gq.search_space.build(spec, input_shape=(DEMO_SIDE, DEMO_SIDE, 3), num_classes=10)
        nodes.append(gq.graph_from_keras(model).num_nodes)
    assert tuple(i for i, n in enumerate(nodes) if n <= 100)[:2] == DEMO_ARCHS


def test_demo_rejects_bad_archs():
    import pytest

    with pytest.raises(ValueError, match=r"indices of the `test` split, in 0\.\.499"):
        run_demo(archs=(500,))
    with pytest.raises(ValueError, match="non-empty sequence"):
        run_demo(archs=())
