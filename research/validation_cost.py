"""Research: the cost of a training run's validation, forward only against with gradients.

`ghnq-tf train` validates after every epoch: the GHN predicts the `val`
networks' parameters, which run `data.validation_steps` batches at the
validation bitwidth, forward only. This times `GHNTrainer.evaluate` on a
config's validation networks and batches both ways (forward only, and also
computing the training step's gradients with respect to the predicted
parameters), after a warm-up pass (networks built and traced), with the
bundled float GHN, and records the loss and top-1 of both (they must be
equal: the forward pass is the same).

Run: `.venv/bin/python research/validation_cost.py`
Results: `research/results/validation_cost.json`.
"""

from __future__ import annotations

import argparse
import time

from _common import save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10_float.yaml")
    parser.add_argument("--ghn", default="cifar10_float", help="bundled name or .keras path")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per mode")
    parser.add_argument("--output", default="validation_cost")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import make_datasets, make_optimizer, make_trainer

    config = load_config(args.config)
    _, val_ds, shape, num_classes = make_datasets(config)
    load = gq.GHN.load if args.ghn.endswith(".keras") else gq.GHN.from_pretrained
    figures: dict[str, object] = {"config": args.config, "ghn": args.ghn}
    for gradients in (True, False):
        trainer = make_trainer(
            config,
            load(args.ghn),
            input_shape=shape,
            num_classes=num_classes,
            archs=gq.search_space.split("train", config.training.meta_batch),  # never built
        )
        trainer.compile(optimizer=make_optimizer(config))
        trainer.cache("val").gradients = gradients  # read when the networks are built
        steps = config.data.validation_steps
        trainer.evaluate(val_ds, steps=steps, verbose=0)  # builds and traces
        times, results = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            results.append(trainer.evaluate(val_ds, steps=steps, verbose=0, return_dict=True))
            times.append(time.perf_counter() - start)
        name = "with_gradients" if gradients else "forward_only"
        figures[name] = {
            "seconds_per_validation": min(times),
            "networks": len(trainer.val_archs),
            "batches": steps,
            "result": results[-1],
        }
        print(name, f"{min(times):.1f} s", results[-1], flush=True)
    ratio = figures["with_gradients"]["seconds_per_validation"] / max(
        figures["forward_only"]["seconds_per_validation"], 1e-9
    )
    figures["speedup"] = ratio
    print(f"forward only is {ratio:.2f}x faster")
    save(args.output, figures)


if __name__ == "__main__":
    main()
