"""Evaluation summaries and files (JSON, Markdown, PNG) from a hand-made result."""

import json
import os

import numpy as np
import pytest

from ghnq_tf.evaluation import report


def _records():
    return [
        {
            "index": 0,
            "name": "test[0]",
            "seconds": 12.0,
            "accuracy": {
                "ghn": {8: 0.5, 2: 0.2},
                "random": {8: 0.1, 2: 0.1},
                "qat_scratch": {8: 0.7},
            },
        },
        {
            "index": 1,
            "name": "test[1]",
            "seconds": 8.0,
            "accuracy": {"ghn": {8: 0.7, 2: 0.3}, "random": {8: 0.12, 2: 0.09}},
        },
    ]


def _result(methods=("ghn", "random", "qat_scratch")):
    records = _records()
    return {
        "config": {
            "split": "test",
            "data": "digits",
            "bits": [8, 2],
            "num_classes": 10,
            "test_images": 360,
            "calibration": {"steps": 8, "batch_size": 64},
            "qat_scratch": {
                "archs": 1,
                "steps": 500,
                "batch_size": 64,
                "learning_rate": 0.001,
                "augment": True,
            },
        },
        "methods": report.summarize(records, methods, [8, 2]),
        "archs": records,
        "seconds": 20.0,
        "complete": True,
    }


def test_summarize():
    summary = report.summarize(_records(), ["ghn", "random", "qat_scratch", "float_ghn"], [8, 2])
    assert list(summary) == ["ghn", "random", "qat_scratch"]  # nobody ran float_ghn
    cell = summary["ghn"][8]
    assert cell["mean"] == pytest.approx(0.6) and cell["std"] == pytest.approx(0.1)
    assert cell["max"] == 0.7 and cell["min"] == 0.5 and cell["num_archs"] == 2
    assert cell["per_arch"] == {"test[0]": 0.5, "test[1]": 0.7}
    assert list(summary["qat_scratch"]) == [8] and summary["qat_scratch"][8]["num_archs"] == 1


def test_summarize_reads_json_round_trips():
    records = json.loads(json.dumps(_records()))  # bits keys become strings
    assert report.summarize(records, ["ghn"], [8, 2]) == report.summarize(
        _records(), ["ghn"], [8, 2]
    )


def test_markdown_table():
    text = report.markdown(_result())
    lines = text.splitlines()
    assert lines[0] == "# Evaluation: split `test`, 2 architectures, digits"
    assert "| method | #archs | W8A8 | W2A2 |" in lines
    assert "| --- | ---: | ---: | ---: |" in lines
    assert "| GHN | 2 | 60.0 ± 10.0 (70.0) | 25.0 ± 5.0 (30.0) |" in lines
    assert "| QAT from scratch | 1 | 70.0 ± 0.0 (70.0) | – |" in lines
    assert "chance is 10.0 %" in text and "360 test images" in text
    assert "500 steps of 64 images" in text
    assert "mean 10.0 s" in text


def test_markdown_states_chance_on_the_images_evaluated():
    """With a `limit`, the test images are not balanced: say what a constant scores."""
    result = _result()
    result["majority_share"] = 0.1
    assert "; chance is 10.0 %." in report.markdown(result)
    result["majority_share"] = 0.105
    assert (
        "chance is 10.0 % on a balanced test set; always predicting the commonest label "
        "of these images scores 10.5 %." in report.markdown(result)
    )


def test_markdown_total_includes_resumed_architectures():
    result = _result()
    assert "total 20 s." in report.markdown(result)
    result["resumed_seconds"] = 900.0
    assert "total 920 s (900 s of it in earlier runs, resumed)." in report.markdown(result)


def test_plot_is_a_png():
    data = report.plot_png(_result())
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_write_outputs_is_atomic_and_complete(tmp_path, monkeypatch):
    out = tmp_path / "eval"
    paths = report.write_outputs(_result(), out)
    assert sorted(p.name for p in out.iterdir()) == [
        "evaluation.json",
        "evaluation.md",
        "evaluation.png",
    ]
    saved = json.loads(paths["json"].read_text())
    assert saved["methods"]["ghn"]["8"]["mean"] == pytest.approx(0.6)

    # A failure while writing leaves the previous files whole and no temp file.
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    changed = _result()
    changed["seconds"] = 99.0
    with pytest.raises(OSError, match="disk full"):
        report.write_outputs(changed, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_markdown_marks_an_incomplete_run():
    result = _result()
    result["complete"] = False
    assert "so far (incomplete run)" in report.markdown(result)
    assert np.isfinite(result["methods"]["ghn"][2]["std"])


def test_markdown_names_a_held_out_split_scored_instead_of_test():
    result = _result()
    result["config"]["test_split"] = "train[-2000:]"
    text = report.markdown(result)
    assert "on 360 images of `train[-2000:]` (not the test images)" in text
    assert "test images after quantization" not in text
