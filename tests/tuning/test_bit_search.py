"""`gq.tuning.search_bits`: exact fast scoring, budget, Keras Tuner search and resume."""

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras
from ghnq_tf.prediction.mixed import param_bits, weight_bits, weight_counts
from ghnq_tf.tuning.bit_search import BitTuner, repair, search_bits
from ghnq_tf.tuning.evaluator import PolicyEvaluator

L = keras.layers


def tiny_model():
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(x)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.ReLU(name="r1")(h)
    h = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")(h)
    h = L.Conv2D(12, 1, name="c2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(x, L.Dense(4, name="fc")(h), name="tiny")


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    model = tiny_model()
    ghn = gq.GHN(hidden=16, num_layers=1, rank=4)
    rng = np.random.RandomState(0)
    x = rng.randn(48, 8, 8, 3).astype("float32")
    y = rng.randint(0, 4, 48)
    evaluator = PolicyEvaluator(model, ghn=ghn, images=x, labels=y, batch_size=16)
    return model, ghn, x, y, evaluator


def test_weight_memory_and_per_layer_prediction_rule(setup):
    model, ghn, *_ = setup
    graph = gq.graph_from_keras(model)
    counts = weight_counts(graph)
    assert counts == {"c1": 3 * 3 * 3 * 8, "sep": 3 * 3 * 8 + 8 * 8, "c2": 8 * 12, "fc": 12 * 4}
    assert weight_bits(graph, 4) == 4 * sum(counts.values())
    policy = {"default": 4, "c1": 8, "sep": (2, 4)}
    assert weight_bits(graph, policy) == 8 * 216 + 2 * 136 + 4 * (96 + 48)
    # BN follows its convolution; each layer's kernel and bias its own bits.
    bits = dict(
        zip(
            [(p.layer[0], p.attr) for p in graph.params],
            param_bits(graph, gq.quant.parse_bits(policy)),
            strict=True,
        )
    )
    assert bits[("c1", "kernel")] == bits[("bn1", "gamma")] == bits[("bn1", "beta")] == 8
    assert bits[("sep", "depthwise_kernel")] == bits[("sep", "bias")] == 2
    assert bits[("fc", "kernel")] == 4


def test_repair_lowers_the_largest_memory_first():
    counts = {"a": 100, "b": 10, "c": 1}
    assert repair({"a": 4, "b": 4, "c": 4}, counts, (2, 4, 8), 444) == {"a": 4, "b": 4, "c": 4}
    fixed = repair({"a": 8, "b": 8, "c": 8}, counts, (2, 4, 8), 444)
    assert fixed == {"a": 2, "b": 8, "c": 8}
    assert sum(counts[k] * fixed[k] for k in counts) <= 444
    assert repair({"a": 8, "b": 8, "c": 8}, counts, (2, 4, 8), 222) == {"a": 2, "b": 2, "c": 2}


@pytest.mark.parametrize("max_activation_bits", [None, 4])
def test_fast_scoring_equals_quantize_predict_calibrate(setup, max_activation_bits):
    """The switched, traced-once evaluator gives exactly what gq.predict(policy) gives."""
    model, ghn, x, y, evaluator = setup
    if max_activation_bits is not None:
        evaluator = PolicyEvaluator(
            model, ghn=ghn, images=x, labels=y, batch_size=16, max_activation_bits=4
        )
    mixed = [{"c1": 8, "sep": 2, "c2": 4, "fc": 8}, {"c1": 2, "sep": 8, "c2": 2, "fc": 4}]
    cases = [(a, evaluator.policy(a)) for a in mixed] + [(evaluator.uniform(4), 4)]
    for assignment, bits in cases:
        fast = evaluator.outputs(assignment)  # calibrated on x in batches of 16
        # The evaluator scores the GHN's own tensors (the same function once
        # calibrated, up to float rounding): compare it with those.
        qmodel = gq.predict(model, bits=bits, ghn=ghn, match_init_scale=False)
        gq.calibrate(qmodel, x, batch_size=16, ranges="minmax")  # the search scores min/max
        np.testing.assert_allclose(fast, qmodel.predict(x, batch_size=16, verbose=0), atol=1e-6)
        sites = {(s.layer.name, s.kind): s.num_bits for s in gq.quant.quantizer_sites(qmodel)}
        assert sites[("quant_c1", "weight")] == assignment["c1"]
        assert sites[("quant_fc", "weight")] == assignment["fc"]
        expected = assignment["fc"] if max_activation_bits is None else min(assignment["fc"], 4)
        assert sites[("quant_fc", "activation")] == expected
    score = evaluator.evaluate(evaluator.uniform(4))["accuracy"]
    assert score == np.mean(fast.argmax(-1) == y)  # the last case: uniform W4A4


def test_search_runs_through_keras_tuner_and_respects_the_budget(setup, tmp_path):
    model, ghn, x, y, _ = setup
    budget = 4 * sum(weight_counts(gq.graph_from_keras(model)).values())
    policy = search_bits(model, ghn=ghn, data=(x, y), max_trials=4, directory=str(tmp_path))
    assert policy["default"] == (4, 4)
    assert set(policy) == {"default", "c1", "sep", "c2", "fc"}
    assert all(w in (2, 4, 8) and a == w for key, (w, a) in policy.items() if key != "default")
    assert weight_bits(gq.graph_from_keras(model), policy) <= budget
    gq.quantize(model, bits=policy)  # accepted as is
    (project,) = list(tmp_path.iterdir())
    assert project.name == "bits_tiny" and len(list(project.glob("trial_*"))) == 4


class CountingTuner(BitTuner):
    interrupt_at: int | None = None

    def run_trial(self, trial, *args, **kwargs):
        self.ran = [*getattr(self, "ran", []), trial.trial_id]
        if self.interrupt_at is not None and len(self.ran) == self.interrupt_at:
            raise KeyboardInterrupt  # as Ctrl-C would, mid-trial
        return super().run_trial(trial, *args, **kwargs)


def test_search_resumes_after_more_trials_and_after_interruption(setup, tmp_path):
    *_, evaluator = setup
    options = {"directory": str(tmp_path), "project_name": "p", "seed": 3}
    first = CountingTuner(evaluator, max_trials=2, **options)
    first.search()
    assert first.ran == ["0", "1"]
    # The first trial of a fresh search is the uniform reference policy.
    assert first.assignment(first.oracle.trials["0"].hyperparameters.values) == evaluator.uniform(4)

    more = CountingTuner(evaluator, max_trials=4, **options)
    more.search()
    assert more.ran == ["2", "3"]  # only the missing trials
    assert len(more.get_best_hyperparameters(4)) == 4

    CountingTuner.interrupt_at = 1
    try:
        broken = CountingTuner(evaluator, max_trials=5, **options)
        with pytest.raises(KeyboardInterrupt):
            broken.search()
    finally:
        CountingTuner.interrupt_at = None
    interrupted = broken.oracle.trials["4"].hyperparameters.values
    resumed = CountingTuner(evaluator, max_trials=5, **options)
    resumed.search()
    assert resumed.ran == ["4"]  # the interrupted trial is re-run, with its values
    assert resumed.oracle.trials["4"].hyperparameters.values == interrupted
    assert all(t.status == "COMPLETED" for t in resumed.oracle.trials.values())
    best = resumed.best_assignment()
    scores = [t.score for t in resumed.oracle.trials.values()]
    assert resumed.results()["best_accuracy"] == max(scores)
    assert evaluator.weight_bits(best) <= resumed.budget


def test_bayesian_oracle_and_bounded_activations(setup, tmp_path):
    model, ghn, x, y, _ = setup
    policy = search_bits(
        model,
        ghn=ghn,
        data=(x, y),
        max_trials=2,
        oracle="bayesian",
        max_activation_bits=2,
        budget=6 * 496,
        directory=str(tmp_path),
    )
    assert policy["default"] == (4, 2)
    assert all(a == 2 for key, (w, a) in policy.items())


def test_bad_arguments_are_rejected_before_any_work(setup):
    model, ghn, x, y, _ = setup
    data = (x, y)
    with pytest.raises(
        ValueError, match=r"`budget` must be at least 992 bits.*Received: budget=100"
    ):
        search_bits(model, ghn=ghn, data=data, budget=100)
    with pytest.raises(
        ValueError, match=r"`budget` must be a positive number.*Received: budget='4bit'"
    ):
        search_bits(model, ghn=ghn, data=data, budget="4bit")
    with pytest.raises(
        ValueError, match=r"`choices` must be ints in 2..8. Received: choices=\(1, 4\)"
    ):
        search_bits(model, ghn=ghn, data=data, choices=(1, 4))
    with pytest.raises(ValueError, match="`max_activation_bits` must be None or an int"):
        search_bits(model, ghn=ghn, data=data, max_activation_bits=16)
    with pytest.raises(TypeError, match="`data` must be an \\(images, labels\\) tuple"):
        search_bits(model, ghn=ghn, data=x)
    with pytest.raises(ValueError, match='`oracle` must be "random", "bayesian"'):
        search_bits(model, ghn=ghn, data=data, oracle="hyperband", max_trials=1)


@pytest.mark.slow
def test_fast_scoring_is_exact_on_mobilenetv2(application):
    """Depthwise convolutions, ReLU6, residual additions: still exactly gq.predict's result."""
    model = application("MobileNetV2")
    keras.utils.set_random_seed(0)
    ghn = gq.GHN(hidden=16, num_layers=1, rank=4)
    rng = np.random.RandomState(0)
    x = rng.randn(32, 32, 32, 3).astype("float32")
    y = rng.randint(0, 10, 32)
    evaluator = PolicyEvaluator(model, ghn=ghn, images=x, labels=y, max_activation_bits=4)
    assignment = {key: (2, 4, 8)[i % 3] for i, key in enumerate(evaluator.layers)}
    fast = evaluator.outputs(assignment)
    qmodel = gq.predict(model, bits=evaluator.policy(assignment), ghn=ghn, match_init_scale=False)
    gq.calibrate(qmodel, x, batch_size=32, ranges="minmax")  # the search scores min/max
    np.testing.assert_allclose(fast, qmodel.predict(x, batch_size=32, verbose=0), atol=1e-5)
    assert evaluator.evaluate(assignment)["seconds"] < 10
