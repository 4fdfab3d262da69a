"""Research: a GHN fitting one architecture against training that network directly.

Tells optimisation from generalisation. On the same training batches (float,
no quantization), it trains

* the network itself, with Adam `--net-lr` (Keras' random initialization), and
* a fresh GHN (the config's `ghn` section) on that one architecture only,
  with Adam `--ghn-lr` and the config's trainer settings,

and prints training-batch top-1 (both in training mode, batch statistics)
every `--every` steps. If the GHN fits one network much more slowly than
direct training does, the GHN's parameterization or optimizer is the limit;
if not, the limit is how many architectures and images it sees.

Run: `.venv/bin/python research/single_arch_fit.py --steps 300`
Results: `research/results/single_arch_fit.json`.
"""

from __future__ import annotations

import argparse

from _common import save, train_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10_float.yaml")
    parser.add_argument("--index", type=int, default=0, help="which training-pool network")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--net-lr", type=float, default=1e-3)
    parser.add_argument("--ghn-lr", type=float, default=None, help="default: the config's")
    parser.add_argument("--skip", choices=["net", "ghn"], default=None)
    parser.add_argument("--override", nargs="*", default=[], help="config key=value pairs")
    parser.add_argument("--output", default="single_arch_fit")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import initial_ghn, make_datasets, make_trainer, training_pool

    config = load_config(args.config, overrides=args.override)
    t = config.training
    ghn_lr = args.ghn_lr or t.learning_rate
    train_ds, _, shape, classes = make_datasets(config)
    spec = training_pool(config, shape)[args.index]
    macs = gq.search_space.macs(spec, input_shape=shape)
    print(f"network {args.index} of the pool: {macs / 1e6:.1f} M MACs", flush=True)
    result = {"config": args.config, "index": args.index, "macs": macs, "steps": args.steps}

    if args.skip != "net":
        keras.utils.set_random_seed(t.seed)
        model = gq.search_space.build(spec, input_shape=shape, num_classes=classes)
        model.compile(
            optimizer=keras.optimizers.Adam(args.net_lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        batches = iter(train_ds)

        def net_step() -> float:
            images, labels = next(batches)
            return model.train_on_batch(images, labels, return_dict=True)["accuracy"]

        result["net"] = {
            "lr": args.net_lr,
            "curve": train_curve(net_step, steps=args.steps, every=args.every, label="net")[0],
        }

    if args.skip != "ghn":
        keras.utils.set_random_seed(t.seed)
        config.training.meta_batch = 1  # the one network at every step
        trainer = make_trainer(
            config, initial_ghn(config), input_shape=shape, num_classes=classes, archs=[spec]
        )
        clip = {"global_clipnorm": t.grad_clip} if t.grad_clip else {}
        trainer.compile(optimizer=keras.optimizers.Adam(ghn_lr, **clip))
        batches = iter(train_ds)

        def ghn_step() -> float:
            images, labels = next(batches)
            trainer.reset_metrics()  # the step's own accuracy, not a running mean
            return trainer.train_step((images, labels))["accuracy"].numpy()

        curve, _ = train_curve(ghn_step, steps=args.steps, every=args.every, label="ghn")
        result["ghn"] = {"lr": ghn_lr, "config": config.to_dict()["ghn"], "curve": curve}

    save(args.output, result)


if __name__ == "__main__":
    main()
