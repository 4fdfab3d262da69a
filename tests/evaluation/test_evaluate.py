"""gq.evaluate on the embedded digits: real tfmot, TF-GNN and calibration, tiny networks."""

import argparse
import json

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf
from ghnq_tf.evaluation.cli import add_parser
from ghnq_tf.evaluation.evaluate import evaluate
from ghnq_tf.evaluation.progress import Progress as _Progress
from ghnq_tf.quant.variables import inject, target_list

SIDE, LIMIT, CAL_STEPS, CAL_BATCH = 16, 120, 2, 32

SPECS = [
    {
        "version": 1,
        "width": 8,
        "num_cells": 2,
        "num_nodes": 2,
        "bn": True,
        "normal": [[["sep_conv_3x3", 1]], [["conv_3x3", 2], ["skip_connect", 0]]],
        "reduce": [[["conv_3x3", 0], ["max_pool_3x3", 1]], [["avg_pool_3x3", 2]]],
        "reductions": [1],
    },
    {
        "version": 1,
        "width": 8,
        "num_cells": 2,
        "num_nodes": 2,  # (a 1-node cell, valid for validate_spec, fails in gq.quantize)
        "bn": False,
        "normal": [[["conv_3x3", 1], ["dil_conv_3x3", 0]], [["max_pool_3x3", 2]]],
        "reduce": [[["conv_1x1", 1]], [["sep_conv_3x3", 2]]],
        "reductions": [1],
    },
]


def _tiny_ghn(seed):
    keras.utils.set_random_seed(seed)
    return gq.GHN(hidden=16, num_layers=1, rank=4).build_all()


@pytest.fixture(scope="module")
def ghn():
    return _tiny_ghn(0)


def _run_kwargs(out):
    """The evaluation the `run` fixture makes (and the resume test repeats)."""
    return dict(
        split=SPECS,
        bits=(8, 2),
        data="digits",
        image_size=SIDE,
        limit=LIMIT,
        calibration_steps=CAL_STEPS,
        calibration_batch_size=CAL_BATCH,
        baselines=["random", "no_message_passing"],
        float_ghn=_tiny_ghn(1),
        output_dir=out,
        progress=False,
    )


@pytest.fixture(scope="module")
def run(ghn, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    result = evaluate(ghn, **_run_kwargs(out))
    return result, out


def test_result_structure(run):
    result, _ = run
    assert result["complete"] is True
    assert list(result["methods"]) == ["ghn", "float_ghn", "no_message_passing", "random"]
    assert result["config"]["test_images"] == LIMIT
    assert result["config"]["calibration"]["split"] == "train"
    assert result["config"]["calibration"]["ranges"] == "mse"  # the default
    assert [r["name"] for r in result["archs"]] == ["arch[0]", "arch[1]"]
    for method, per_bits in result["methods"].items():
        assert sorted(per_bits) == [2, 8], method
        for cell in per_bits.values():
            values = np.array(list(cell["per_arch"].values()))
            assert cell["num_archs"] == 2 and list(cell["per_arch"]) == ["arch[0]", "arch[1]"]
            assert np.all((values >= 0) & (values <= 1))
            assert cell["mean"] == pytest.approx(values.mean())
            assert cell["std"] == pytest.approx(values.std())
            assert cell["max"] == values.max() and cell["min"] == values.min()
            # Whole test images: every accuracy is a count over LIMIT images.
            np.testing.assert_allclose(values * LIMIT, np.round(values * LIMIT), atol=1e-9)
    for record in result["archs"]:
        assert record["seconds"] > 0 and set(record["seconds_per_bits"]) == {8, 2}
        assert {"build", "quantize", "ghn", "calibrate", "evaluate"} <= set(record["timings"])
        assert record["input_shape"] == [SIDE, SIDE, 3]


def test_majority_share_counts_the_test_labels(run):
    result, _ = run
    _, labels = next(iter(_digits("test", batch_size=LIMIT, limit=LIMIT)))
    counts = np.bincount(labels.numpy(), minlength=10)
    assert result["majority_share"] == pytest.approx(counts.max() / LIMIT)


def test_random_baseline_is_near_chance(run):
    result, _ = run
    for cell in result["methods"]["random"].values():
        assert all(v <= 0.35 for v in cell["per_arch"].values())
        assert cell["mean"] <= 0.3


def _digits(split, **kwargs):
    return gq.data.load("digits", split, image_size=SIDE, **kwargs)


def test_results_reproduce_the_slow_path(run, ghn):
    """quantize at 2 bits + predict + gq.calibrate by hand gives the same top-1.

    evaluate wraps once at 8 bits, retargets, reuses traced calibration: the
    figures must not depend on it. Also checks that `no_message_passing`
    evaluated other parameters than `ghn`.
    """
    result, _ = run
    x_test, y_test = next(iter(_digits("test", batch_size=LIMIT, limit=LIMIT)))
    tf.random.set_seed(0)  # as evaluate does: tf.data's shuffle reads the global seed too
    train = _digits("train", batch_size=CAL_BATCH, shuffle=True, seed=0, drop_remainder=True)
    x_cal = np.concatenate([x.numpy() for x, _ in train.take(CAL_STEPS)])
    keras.utils.set_random_seed(0)  # evaluate seeds arch i with seed * 1_000_003 + i
    model = gq.search_space.build(SPECS[0], input_shape=(SIDE, SIDE, 3), num_classes=10)
    graph = gq.graph_from_keras(model)
    with_mp = ghn.predict_params([graph], bits=2)[0]
    without = ghn.predict_params([graph], bits=2, message_passing=False)[0]
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in zip(with_mp, without, strict=True))
    qmodel = gq.quantize(model, bits=2)  # wrapped at 2 bits directly, no retarget
    initial = qmodel.get_weights()
    for method, params in (("ghn", with_mp), ("no_message_passing", without), ("random", None)):
        qmodel.set_weights(initial)
        if params is not None:
            inject(target_list(qmodel, model, graph), params)
        gq.calibrate(qmodel, x_cal, batch_size=CAL_BATCH)
        logits = qmodel(x_test, training=False)
        expected = float(np.mean(np.argmax(logits.numpy(), -1) == y_test.numpy()))
        loss = keras.losses.sparse_categorical_crossentropy(y_test, logits, from_logits=True)
        got = result["methods"][method][2]["per_arch"]["arch[0]"]
        assert abs(got - expected) <= 1 / LIMIT + 1e-9, method  # graph vs eager: <= 1 image
        # The test loss is sensitive to any change of parameters or calibration.
        recorded = result["archs"][0]["loss"][method][2]
        assert recorded == pytest.approx(float(np.mean(loss)), rel=1e-4), method


def test_files_are_written(run):
    result, out = run
    saved = json.loads((out / "evaluation.json").read_text())
    assert saved["complete"] and set(saved["methods"]) == set(result["methods"])
    assert saved["methods"]["ghn"]["8"]["per_arch"] == result["methods"]["ghn"][8]["per_arch"]
    table = (out / "evaluation.md").read_text()
    assert "| method | #archs | W8A8 | W2A2 |" in table
    assert "| GHN | 2 |" in table and "| random init | 2 |" in table
    assert "| GHN, no message passing | 2 |" in table and "| float-trained GHN | 2 |" in table
    assert (out / "evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files


def test_resume_reuses_finished_architectures(run, ghn):
    result, out = run
    again = evaluate(ghn, **_run_kwargs(out))
    assert again["methods"] == result["methods"]
    assert again["seconds"] < 10  # nothing was run again
    assert again["resumed_seconds"] == pytest.approx(sum(r["seconds"] for r in result["archs"]))
    assert result["resumed_seconds"] == 0.0
    with pytest.raises(ValueError, match="holds an evaluation with other settings"):
        evaluate(_tiny_ghn(2), split=SPECS, data="digits", image_size=SIDE, output_dir=out)


def test_resume_accepts_a_record_from_before_a_ghn_option_existed(run, ghn):
    _, out = run
    path = out / "evaluation.json"
    original = path.read_text()
    record = json.loads(original)
    try:
        for key in ("ghn", "float_ghn"):  # as written before `templates` was a GHN option
            assert record["config"][key]["config"].pop("templates") == 0
        path.write_text(json.dumps(record))
        assert evaluate(ghn, **_run_kwargs(out))["seconds"] < 10  # resumed, nothing rerun
        record["config"]["ghn"]["config"]["templates"] = 3  # a real difference still stops it
        path.write_text(json.dumps(record))
        with pytest.raises(ValueError, match=r"differ in: ghn\)"):
            evaluate(ghn, **_run_kwargs(out))
    finally:
        path.write_text(original)


def _fail_without_batch_norm(monkeypatch):
    """Makes `gq.quantize` raise inside the evaluation for BN-free networks (`arch[1]`)."""
    from ghnq_tf.evaluation import runner

    real = runner.quantize

    def quantize(model, **kwargs):
        if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
            raise RuntimeError("no batch norm here")
        return real(model, **kwargs)

    monkeypatch.setattr(runner, "quantize", quantize)


def test_skip_failures_records_the_failure_and_goes_on(run, ghn, tmp_path, monkeypatch):
    result, _ = run
    kwargs = {**_run_kwargs(tmp_path), "baselines": [], "float_ghn": None, "ghn_batch": 2}
    with monkeypatch.context() as patch:
        _fail_without_batch_norm(patch)
        with pytest.raises(RuntimeError, match="no batch norm here"):
            evaluate(ghn, **{**kwargs, "output_dir": None})
        with pytest.warns(UserWarning, match=r"arch\[1\] failed and is skipped"):
            skipped = evaluate(ghn, **kwargs, skip_failures=True)
    # The 2-network chunk failed; arch[0] was rerun alone and gives the full run's figures.
    assert skipped["complete"] and [r["name"] for r in skipped["archs"]] == ["arch[0]"]
    assert [(f["name"], f["error"]) for f in skipped["failed"]] == [
        ("arch[1]", "RuntimeError: no batch norm here")
    ]
    for b in (8, 2):
        got = skipped["methods"]["ghn"][b]["per_arch"]
        assert list(got) == ["arch[0]"]
        assert abs(got["arch[0]"] - result["methods"]["ghn"][b]["per_arch"]["arch[0]"]) <= 1 / LIMIT
    table = (tmp_path / "evaluation.md").read_text()
    assert "- `arch[1]`: RuntimeError: no batch norm here" in table
    # Resuming retries only the failed network, which now runs.
    again = evaluate(ghn, **kwargs, skip_failures=True)
    assert again["failed"] == [] and [r["name"] for r in again["archs"]] == ["arch[0]", "arch[1]"]
    assert again["resumed_seconds"] == pytest.approx(skipped["archs"][0]["seconds"])


def test_progress_takes_back_a_failed_runs_ticks():
    # What `skip_failures` relies on: a failed network's partial figures leave
    # the running means, and the bar moves past its units.
    progress = _Progress(7, (8, 4), show=False)
    progress.tick("ghn", 8, 0.5)
    before = progress.state()
    progress.tick("ghn", 8, 0.1)
    progress.tick("random", 4, 0.1)
    progress.restore(before, skip=3)
    assert progress.count == 4
    assert progress.sums == {8: [0.5, 1], 4: [0.0, 0]}
    progress.tick("ghn", 4, 0.25)
    assert progress.sums[4] == [0.25, 1] and before[1][4] == (0.0, 0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "tset"}, ValueError, r"`split` must be one of .*Received: split='tset'"),
        ({"bits": 9}, ValueError, r"`bits` must be .* ints in 2..8.*Received: bits=9"),
        ({"bits": (4, 4)}, ValueError, r"distinct ints in 2..8.*Received: bits=\(4, 4\)"),
        ({"baselines": ["randm"]}, ValueError, r"`baselines` must name methods among"),
        ({"baselines": ["float_ghn"]}, ValueError, r"no float-trained GHN was given"),
        ({"num_archs": 0}, ValueError, r"`num_archs` must be a positive int"),
        ({"limit": -1}, ValueError, r"`limit` must be a positive int or None"),
        ({"data": "image_folder:/no/such/dir"}, FileNotFoundError, "Image folder not found"),
        ({"data": "mnist"}, ValueError, "Unknown dataset"),
        ({"ranges": "max"}, ValueError, r"`ranges` must be one of .*Received: ranges='max'"),
    ],
)
def test_bad_arguments_fail_before_any_work(ghn, kwargs, error, match):
    args = {"split": SPECS, "data": "digits", "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        evaluate(ghn, **args)


def test_missing_ghn_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No GHN checkpoint"):
        evaluate(str(tmp_path / "nope.keras"), split=SPECS, data="digits")


def test_dataset_without_train_split(ghn, tmp_path):
    folder = tmp_path / "only_test" / "test" / "a"
    folder.mkdir(parents=True)
    keras.utils.save_img(folder / "0.png", np.zeros((8, 8, 3), "uint8"))
    with pytest.raises(ValueError, match="has no 'train' split"):
        evaluate(ghn, split=SPECS, data=f"image_folder:{tmp_path / 'only_test'}")


@pytest.mark.slow
def test_qat_scratch_and_the_command(ghn, tmp_path, capsys):
    """The CLI on one search-space `test` network, with QAT from scratch."""
    path = tmp_path / "ghn.keras"
    ghn.save(str(path))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["evaluate", "--ghn", str(path), "--split", "test", "--num-archs", "1", "--bits", "8"]
        + ["--data", "digits", "--image-size", str(SIDE), "--limit", str(LIMIT)]
        + ["--calibration-steps", "2", "--calibration-batch-size", "32"]
        + ["--baselines", "random", "qat_scratch", "--scratch-archs", "1"]
        + ["--scratch-steps", "40", "--scratch-batch-size", "32", "--no-progress"]
        + ["--ghn-batch", "1", "--skip-failures"]
        + ["--output", str(tmp_path / "out")]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| QAT from scratch | 1 |" in printed and "40 steps of 32 images" in printed
    result = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert result["config"]["qat_scratch"]["steps"] == 40
    assert result["config"]["ghn_batch"] == 1 and result["failed"] == []
    assert result["config"]["ghn"]["source"] == str(path)
    trained = result["methods"]["qat_scratch"]["8"]["mean"]
    assert trained > max(0.3, result["methods"]["random"]["8"]["mean"])  # it learned


def test_held_out_training_images_can_be_scored(ghn):
    """Model selection scores a hold-out of 'train' and calibrates on the rest."""
    result = evaluate(
        ghn,
        split=SPECS[:1],
        bits=(8,),
        data="digits",
        image_size=SIDE,
        test_split="train[-40:]",
        calibration_split="train[:-40]",
        calibration_steps=CAL_STEPS,
        calibration_batch_size=CAL_BATCH,
        baselines=[],
        progress=False,
    )
    config = result["config"]
    assert config["test_split"] == "train[-40:]" and config["test_images"] == 40
    assert config["calibration"]["split"] == "train[:-40]"
    values = np.array(list(result["methods"]["ghn"][8]["per_arch"].values()))
    np.testing.assert_allclose(values * 40, np.round(values * 40), atol=1e-9)
    with pytest.raises(ValueError, match="has no 'validation' split"):
        evaluate(ghn, split=SPECS[:1], data="digits", test_split="validation", progress=False)
