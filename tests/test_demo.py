"""`make demo`'s job runs end to end on the embedded data."""

from ghnq_tf.demo import run_demo


def test_demo_runs_on_embedded_data(capsys):
    result = run_demo(num_archs=1)
    out = capsys.readouterr().out
    assert "embedded digits, 1437 train / 360 test" in out
    assert len(result["rows"]) == 1 and "one GraphTensor" in out
