"""`make demo`'s job runs end to end on the embedded data."""

from ghnq_tf.demo import run_demo


def test_demo_runs_on_embedded_data_and_repeats(capsys):
    result = run_demo(archs=(0,), bits=(8, 2))
    out = capsys.readouterr().out
    assert "embedded digits (16x16), 360 test images" in out
    assert len(result["rows"]) == 1 and len(result["rows"][0]) == 5
    assert result["litert"]["count"] == 360 and "exported test[0] W8A8 to TFLite" in out
    assert out.rstrip().splitlines()[-1].startswith("next: python examples/cifar10.py")
    if result["ghn"]:  # each GHN prediction's time is printed in its cell
        assert len(result["prediction_seconds"]) == 2
        assert all(f"({s:.1f} s)" in out for s in result["prediction_seconds"])
    # Both columns repeat: the network's Keras initialization is seeded (it
    # was not, and the random-init column moved by up to 4 points between runs).
    again = run_demo(archs=(0,), bits=(8, 2))
    assert again["rows"] == result["rows"]


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
