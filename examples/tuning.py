"""Example: both Keras Tuner searches on the embedded digits data (no download).

1. `GHNTuner`: a tiny GHN hyperparameter search (2 trials of a few steps)
   from `configs/tune_ghn.yaml`, writing the best training config.
2. `search_bits`: 2/4/8 bits per layer of an unseen network under the
   weight memory of uniform 4 bits, judged by the best trial's GHN.

Run: `.venv/bin/python examples/tuning.py` (about 3 minutes on 2 CPU cores;
`--ghn runs/digits_w4a4/ghn_best.keras` judges the bits with a trained GHN).
Re-running it resumes both searches from `--directory`.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import ghnq_tf as gq  # noqa: E402


def tune_ghn(directory: str) -> gq.GHN:
    config = gq.tuning.load_tune_config(
        "configs/tune_ghn.yaml",
        overrides=[
            f"tuner.directory={directory}",
            "tuner.max_trials=2",
            "trial.steps_per_epoch=3",
            "trial.validation_steps=1",
            "search.training.bits=[[4]]",
            "search.training.meta_batch=[2]",
            "base.search_space.train_size=2",
            "base.search_space.val_size=1",
            "base.data.batch_size=32",
            "base.training.meta_batch=2",
        ],
    )
    tuner = gq.tuning.GHNTuner.from_tune_config(config)
    tuner.search(verbose=0)
    for trial in tuner.summary_dict()["trials"]:
        print(f"trial {trial['trial_id']}: val_accuracy {trial['score']:.3f}  {trial['values']}")
    path = tuner.write_best_config(config.output_path())
    print(f"best training config: {path} (ghnq-tf train --config {path})")
    (ghn,) = tuner.get_best_models(1)
    return ghn


def search(ghn: gq.GHN, directory: str) -> None:
    x, y = next(iter(gq.data.load("digits", "test", batch_size=128, image_size=16)))
    x, y = x.numpy(), y.numpy()
    model = gq.search_space.build(
        gq.search_space.split("test", 1)[0], input_shape=(16, 16, 3), num_classes=10
    )
    graph = gq.graph_from_keras(model)
    budget = gq.tuning.weight_bits(graph, 4)  # the memory of uniform 4-bit weights
    policy = gq.tuning.search_bits(
        model,
        ghn=ghn,
        data=(x[:64], y[:64]),
        budget=budget,
        max_activation_bits=4,
        max_trials=8,
        directory=directory,
    )
    counts = {b: sum(w == b for k, (w, _) in policy.items() if k != "default") for b in (2, 4, 8)}
    print(
        f"{model.name}: layers per bitwidth {counts}; weight bits "
        f"{gq.tuning.weight_bits(graph, policy):,} of {budget:,}"
    )
    for name, bits in (("uniform W4A4", 4), ("found policy", policy)):
        qmodel = gq.predict(model, bits=bits, ghn=ghn, calibration_data=x[:64])
        top1 = np.mean(qmodel.predict(x[64:], verbose=0).argmax(-1) == y[64:])
        print(f"{name}: predicted-parameter top-1 on 64 held-out digits {top1:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default="runs/example_tuning")
    parser.add_argument("--ghn", help="judge the bits with this GHN instead of the tuned one")
    args = parser.parse_args()
    ghn = tune_ghn(args.directory)
    search(gq.GHN.load(args.ghn) if args.ghn else ghn, args.directory)


if __name__ == "__main__":
    main()
