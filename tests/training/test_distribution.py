"""GHNTrainer under tf.distribute: the user's code is unchanged, the update is exact.

Each distributed run (MirroredStrategy on two logical CPUs in a subprocess;
MultiWorkerMirroredStrategy with two worker processes on loopback) trains one
step with `_dist_worker.py`. The reference is computed here on one device,
independently of the trainer: for every replica r, the two-tape gradient
(`ghn_gradients`) of the mean loss of the networks replica r drew, on the
image shard replica r received; these are averaged over replicas and applied
with the same SGD. Every GHN weight after the step must match.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import _dist_worker as worker
import numpy as np
import pytest

from ghnq_tf._keras import keras, tf

WORKER = str(Path(worker.__file__).resolve())
TIMEOUT = 300  # seconds, for all the processes of one run
ATOL, RTOL = 1e-6, 1e-5


# ------------------------------------------------------------------ helpers
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1")
    env.pop("TF_CONFIG", None)
    return env


def _run_workers(
    tmp_path: Path, kind: str, configs: list[dict | None], options: tuple[str, ...] = ()
) -> list[dict]:
    """Runs one worker process per config (its TF_CONFIG, or None); returns their outputs.

    All must finish within TIMEOUT; if one fails or time runs out, the
    others are killed (a multi-worker peer would wait for the dead one).
    """
    procs, logs, outs = [], [], []
    try:
        for i, config in enumerate(configs):
            env = _env()
            if config is not None:
                env["TF_CONFIG"] = json.dumps(config)
            outs.append(tmp_path / f"{kind}_{i}.npz")
            logs.append(open(tmp_path / f"{kind}_{i}.log", "wb"))  # noqa: SIM115
            command = [sys.executable, WORKER, kind, str(outs[-1]), *options]
            procs.append(
                subprocess.Popen(
                    command, cwd=tmp_path, env=env, stdout=logs[-1], stderr=subprocess.STDOUT
                )
            )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for log in logs:
            log.close()
    for i, proc in enumerate(procs):
        if proc.returncode != 0:
            text = (tmp_path / f"{kind}_{i}.log").read_text(errors="replace")[-4000:]
            why = "killed: timeout or a peer failed" if proc.returncode < 0 else "failed"
            pytest.fail(f"{kind} worker {i} {why} (exit {proc.returncode}):\n{text}")
    return [_load(out) for out in outs]


def _load(path: Path | dict) -> dict:
    data = dict(np.load(path)) if isinstance(path, Path) else dict(path)
    meta = json.loads(str(data.pop("meta")))
    count = len(meta["names"])
    return {
        **meta,
        "init": [data[f"init_{i}"] for i in range(count)],
        "final": [data[f"final_{i}"] for i in range(count)],
        "shards": {
            int(k.split("_")[1]): (data[k], data[f"labels_{k.split('_')[1]}"])
            for k in data
            if k.startswith("images_")
        },
    }


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _replica_gradients(init: list[np.ndarray], draw: list, shard: tuple) -> tuple[list, float]:
    """One replica's GHN gradient and mean cross-entropy, on one device, without GHNTrainer.

    The replica's loss: the mean cross-entropy of the networks it drew, on its
    shard, in training mode with fake-quant, plus the parameter penalty.
    """
    from ghnq_tf.graph import graph_from_keras, graphs_to_tensor
    from ghnq_tf.quant import quantize
    from ghnq_tf.quant.variables import target_list
    from ghnq_tf.training.fresh_ranges import use_fresh_ranges
    from ghnq_tf.training.two_tape import ghn_gradients

    _, _, indices, bits = draw
    ghn = worker.make_ghn().build_all()
    ghn.set_weights(init)
    models = [worker.build(worker.SPECS[i]) for i in indices]
    graphs = [graph_from_keras(m) for m in models]
    qmodels = [quantize(m, bits=b) for m, b in zip(models, bits, strict=True)]
    for qmodel in qmodels:  # as GHNTrainer's networks: activation ranges follow the batch
        use_fresh_ranges(qmodel)
    targets = [
        v for q, m, g in zip(qmodels, models, graphs, strict=True) for v in target_list(q, m, g)
    ]
    images = tf.constant(shard[0])
    one_hot = tf.one_hot(shard[1], worker.TRAINER_KWARGS["num_classes"])
    loss_obj = keras.losses.CategoricalCrossentropy(from_logits=True)
    penalty = worker.TRAINER_KWARGS["param_penalty"] / len(qmodels)
    cross_entropy = []

    def loss_fn():
        losses = [loss_obj(one_hot, q(images, training=True)) for q in qmodels]
        cross_entropy.append(tf.add_n(losses) / len(losses))
        return cross_entropy[-1] + penalty * tf.add_n([tf.norm(v) for v in targets])

    graph = graphs_to_tensor(graphs, bits=bits, max_distance=ghn.max_distance)
    _, grads = ghn_gradients(ghn, graph, targets, loss_fn)
    return [g.numpy() for g in grads], float(cross_entropy[-1])


def _reference(init: list[np.ndarray], draws: list, shards: dict) -> dict:
    """The single-device update: the replicas' gradients averaged, applied with SGD.

    Also returns `replica0`: the update replica 0 alone would make (a wrong
    answer the distributed result must be far from).
    """
    by_replica = {d[1]: d for d in draws}
    results = [_replica_gradients(init, by_replica[r], shards[r]) for r in sorted(by_replica)]
    mean = [np.mean(g, axis=0) for g in zip(*(grads for grads, _ in results), strict=True)]

    def sgd(grads):
        ghn = worker.make_ghn().build_all()
        ghn.set_weights(init)
        optimizer = keras.optimizers.SGD(worker.LEARNING_RATE)
        optimizer.apply_gradients(zip(grads, ghn.trainable_variables, strict=True))
        return [v.numpy() for v in ghn.weights]

    return {
        "final": sgd(mean),
        "replica0": sgd(results[0][0]) if len(results) > 1 else None,
        "loss": float(np.mean([loss for _, loss in results])),
    }


def _assert_weights_close(actual: list, expected: list, names: list[str]) -> None:
    for a, e, name in zip(actual, expected, names, strict=True):
        np.testing.assert_allclose(a, e, atol=ATOL, rtol=RTOL, err_msg=name)


def _max_difference(actual: list, expected: list) -> float:
    return max(float(np.max(np.abs(a - e))) for a, e in zip(actual, expected, strict=True))


def _assert_matches_reference(result: dict, shards: dict | None = None) -> None:
    """The step equals the single-device update, which is far from replica 0's alone."""
    draws = result["draws"]
    shards = result["shards"] if shards is None else shards
    assert sorted(d[1] for d in draws) == list(range(result["replicas"]))
    reference = _reference(result["init"], draws, shards)
    assert _max_difference(result["final"], result["init"]) > 1e-2, "the step changed nothing"
    _assert_weights_close(result["final"], reference["final"], result["names"])
    assert result["history"]["loss"][0] == pytest.approx(reference["loss"], rel=RTOL)
    assert result["tracker_loss"] == pytest.approx(reference["loss"], rel=RTOL)
    if reference["replica0"] is not None:
        assert _max_difference(result["final"], reference["replica0"]) > 1e-3


def _assert_shards_split_batch(shards: dict) -> None:
    """Replica 0 trained on examples 0..3 of the global batch, replica 1 on 4..7."""
    images, labels = worker.data()
    half = len(images) // 2
    for replica, (x, y) in shards.items():
        np.testing.assert_array_equal(x, images[replica * half : (replica + 1) * half])
        np.testing.assert_array_equal(y, labels[replica * half : (replica + 1) * half])


def _assert_different_draws(draws: list) -> None:
    by_replica = {d[1]: (d[2], d[3]) for d in draws}
    assert by_replica[0] != by_replica[1], f"both replicas drew the same networks: {draws}"


@pytest.fixture(scope="module")
def plain() -> dict:
    """One step with no strategy, in this process."""
    return _load(worker.run("none"))


# -------------------------------------------------------------------- tests
def test_single_device_step_matches_reference(plain):
    """The reference computation agrees with GHNTrainer on one device."""
    assert plain["replicas"] == 1 and len(plain["draws"]) == 1
    _assert_matches_reference(plain)


def test_one_device_strategy_equals_no_strategy(plain):
    one = _load(worker.run("one_device", init=plain["init"]))
    assert one["replicas"] == 1
    assert one["draws"] == plain["draws"]
    _assert_weights_close(one["init"], plain["init"], plain["names"])
    _assert_weights_close(one["final"], plain["final"], plain["names"])
    for key in ("loss", "accuracy"):
        assert one["history"][key] == pytest.approx(plain["history"][key], rel=RTOL)


def test_mirrored_two_replicas_equals_single_device_update(tmp_path):
    # trace_after=0: each replica thread traces its networks' steps (tf.function);
    # the multi-worker test runs them eagerly (the default for new networks).
    (result,) = _run_workers(tmp_path, "mirrored", [None], ("trace_after=0",))
    assert result["replicas"] == 2 and len(result["draws"]) == 2
    _assert_different_draws(result["draws"])
    assert result["replica_spread"] == 0.0  # the replicas' GHN copies are identical
    _assert_shards_split_batch(result["shards"])
    _assert_matches_reference(result)


def test_multi_worker_two_processes_equals_single_device_update(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    configs = [{"cluster": cluster, "task": {"type": "worker", "index": i}} for i in range(2)]
    chief, other = _run_workers(tmp_path, "multi_worker", configs)
    for result in (chief, other):
        assert result["replicas"] == 2 and len(result["draws"]) == 1
    assert [chief["draws"][0][1], other["draws"][0][1]] == [0, 1]
    _assert_different_draws(chief["draws"] + other["draws"])
    # Both workers start from the chief's initial weights and end equal.
    _assert_weights_close(other["init"], chief["init"], chief["names"])
    _assert_weights_close(other["final"], chief["final"], chief["names"])
    shards = {**chief["shards"], **other["shards"]}
    _assert_shards_split_batch(shards)
    _assert_matches_reference({**chief, "draws": chief["draws"] + other["draws"]}, shards)
