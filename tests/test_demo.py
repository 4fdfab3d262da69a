"""`make demo`'s job runs end to end on the embedded data."""

from ghnq_tf.demo import run_demo


def test_demo_runs_on_embedded_data_and_repeats(capsys):
    result = run_demo(num_archs=1, bits=(8, 2))
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
    again = run_demo(num_archs=1, bits=(8, 2))
    assert again["rows"] == result["rows"]
