"""`ghnq-tf train`: a whole GHN training run from a config."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.training.config import RunConfig


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy a config names."""
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (always, unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def dataset_name(config: RunConfig) -> str:
    """`image_folder:<path>` when the config's folder exists, else `data.name`."""
    folder = config.data.image_folder
    if folder and Path(folder).is_dir():
        return f"image_folder:{folder}"
    return config.data.name


def architectures_within(
    split: str,
    size: int,
    max_macs: float | None,
    input_shape: tuple[int, int, int],
    *,
    batch_norm_only: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """(the first `size` architectures of `split` within `max_macs`, how many were drawn).

    With `batch_norm_only`, networks without batch norm are skipped too.
    Draws at most `64 * size` architectures: fewer than `size` come back when
    the filters keep too few of them.
    """
    import ghnq_tf as gq

    if max_macs is None and not batch_norm_only:
        return gq.search_space.split(split, size), size

    def kept(spec: dict[str, Any]) -> bool:
        if batch_norm_only and not spec["bn"]:
            return False
        return max_macs is None or gq.search_space.macs(spec, input_shape=input_shape) <= max_macs

    found: list[dict[str, Any]] = []
    drawn = 0
    while len(found) < size and drawn < 64 * size:
        batch = gq.search_space.split(split, drawn + 4 * size)[drawn:]
        drawn += len(batch)
        found += [s for s in batch if kept(s)]
    return found[:size], drawn


def training_pool(config: RunConfig, input_shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """The first `train_size` training architectures within `max_macs` (if set).

    With `search_space.batch_norm_only`, only networks with batch norm. With
    several `search_space.families`, each family's training split gives an
    equal share (the first family any remainder), interleaved one by one.
    """
    from ghnq_tf.search_space.splits import FAMILY_TRAIN_SPLITS
    from ghnq_tf.training.config import ConfigError

    space = config.search_space
    size, cap = space.train_size, space.max_macs
    families = space.families
    shares = [size // len(families) + (i < size % len(families)) for i in range(len(families))]
    parts, drawn = [], 0
    for family, share in zip(families, shares, strict=True):
        if share == 0:
            continue
        split = FAMILY_TRAIN_SPLITS[family]
        bn_only = space.batch_norm_only
        part, part_drawn = architectures_within(
            split, share, cap, input_shape, batch_norm_only=bn_only
        )
        parts.append(part)
        drawn += part_drawn
    pool = [spec for group in itertools.zip_longest(*parts) for spec in group if spec is not None]
    if len(pool) < size:
        bn = space.batch_norm_only
        what = "`search_space.max_macs`" + (" with `batch_norm_only`" if bn else "")
        raise ConfigError(
            f"{what} keeps only {len(pool)} of the first {drawn} "
            f"training architectures, fewer than `search_space.train_size`={size}. "
            f"Raise max_macs{', turn off batch_norm_only' if bn else ''} or lower "
            f"train_size. Received: max_macs={cap}, "
            f"batch_norm_only={bn}"
        )
    return pool


def make_datasets(config: RunConfig) -> tuple[Any, Any, tuple[int, int, int], int]:
    """(repeated training batches, validation batches, image shape, classes) of a config."""
    import ghnq_tf as gq

    name, d = dataset_name(config), config.data
    info = gq.data.info(name)
    shape = info["image_shape"] if d.image_size is None else (d.image_size, d.image_size, 3)
    load = {"batch_size": d.batch_size, "image_size": d.image_size, "data_dir": d.data_dir}
    train_ds = gq.data.load(
        name,
        d.train_split,
        augment=d.augment,
        drop_remainder=True,
        seed=config.training.seed,
        **load,
    ).repeat()
    # The same images at every validation: its changes are the GHN's, not a new
    # draw of `validation_steps` batches (a hold-out of 'train' would reshuffle).
    val_ds = gq.data.load(name, d.val_split, shuffle=False, **load)
    return train_ds, val_ds, tuple(shape), info["num_classes"]


def make_trainer(
    config: RunConfig,
    ghn: Any,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    archs: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Any:
    """The `GHNTrainer` a config describes.

    `archs` replaces the config's training pool; `overrides` are other
    trainer arguments.
    """
    import ghnq_tf as gq
    from ghnq_tf.training.trainer import GHNTrainer

    t = config.training
    return GHNTrainer(
        ghn,
        training_pool(config, input_shape) if archs is None else archs,
        bits=t.bits,
        meta_batch=t.meta_batch,
        qat=t.qat,
        val_archs=gq.search_space.split("val", config.search_space.val_size),
        input_shape=input_shape,
        num_classes=num_classes,
        cache_size=t.cache_size,
        trace_after=t.trace_after,
        param_penalty=t.param_penalty,
        filter_decorrelation=t.filter_decorrelation,
        label_smoothing=t.label_smoothing,
        network_clip=t.network_clip,
        activation_ranges=t.activation_ranges,
        seed=t.seed,
        window=t.window,
        window_steps=t.window_steps,
        teacher=load_teacher(t.distill.teacher),
        distill_temperature=t.distill.temperature,
        distill_weight=t.distill.weight,
        **overrides,
    )


def load_teacher(path: str | None) -> keras.Model | None:
    """The distillation teacher saved at `path` (None: no distillation).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file holds no readable tf_keras model.
    """
    if path is None:
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"`training.distill.teacher` names no file: {path!r}. Train one with "
            "research/train_teacher.py, or set it to null. Received: teacher={path!r}"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises several types for unreadable files
        raise ValueError(
            f"`training.distill.teacher` {path!r} is not a readable tf_keras model "
            f"({type(err).__name__}: {err})."
        ) from err


def initial_ghn(config: RunConfig) -> Any:
    """The GHN a run starts from: fresh, or `training.init_from`'s weights.

    The checkpoint's GHN must be built like the config's `ghn` section,
    except for the decoder's `DECODING_SWITCHES` (no weights of their own),
    which the config's values set.

    Raises:
        FileNotFoundError / ValueError: `init_from` names no readable GHN.
        ValueError: the checkpoint's GHN is built differently from the
            config's `ghn` section.
    """
    import ghnq_tf as gq
    from ghnq_tf.hypernet.checkpoint import pretrained_manifests
    from ghnq_tf.hypernet.decoder import DECODING_SWITCHES

    ghn = gq.GHN(**vars(config.ghn))
    source = config.training.init_from
    if source is None:
        return ghn
    is_name = source in pretrained_manifests()
    start = gq.GHN.from_pretrained(source) if is_name else gq.GHN.load(source)
    wanted = {
        k: v
        for k, v in ghn.get_config().items()
        if k in vars(config.ghn) and k not in DECODING_SWITCHES
    }
    found = {k: v for k, v in start.get_config().items() if k in wanted}
    if found != wanted:
        differ = sorted(k for k in wanted if found.get(k) != wanted[k])
        raise ValueError(
            f"`training.init_from` must be a GHN built like the config's `ghn` section; "
            f"{source!r} differs in {differ}: it has "
            f"{ {k: found.get(k) for k in differ} }, the config "
            f"{ {k: wanted[k] for k in differ} }. Received: init_from={source!r}"
        )
    ghn.build_all()
    ghn.set_weights(start.get_weights())
    return ghn


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    t = config.training
    rate: Any = t.learning_rate
    if t.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(t.learning_rate, t.epochs * t.steps_per_epoch)
    clip = {"global_clipnorm": t.grad_clip} if t.grad_clip else {}
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=t.weight_decay, **clip)
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(rate, **clip)


def train(config: RunConfig, *, verbose: int | str = "auto") -> dict[str, Any]:
    """Trains a GHN as `config` says; returns the final metrics.

    Writes to `config.output_dir`: `config.json`, `ghn_last.keras`,
    `ghn_best.keras`, `metrics.json`, `history.csv`, TensorBoard logs and a
    `backup/` that makes an interrupted run resume where it stopped (same
    optimizer state, step and architecture draws).
    """
    from ghnq_tf._io import atomic_write_text
    from ghnq_tf.training.callbacks import SaveGHN

    # Multi-worker collectives must be configured before any other TF op.
    strategy = make_strategy(config.strategy)
    keras.utils.set_random_seed(config.training.seed)  # the GHN's initialization too
    chief = is_chief(strategy)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if chief:
        atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    train_ds, val_ds, shape, num_classes = make_datasets(config)
    with strategy.scope():
        trainer = make_trainer(
            config, initial_ghn(config), input_shape=shape, num_classes=num_classes
        )
        trainer.compile(optimizer=make_optimizer(config))
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(  # handles multi-worker backups itself
            str(out / "backup"), save_freq=config.checkpoint_every, delete_checkpoint=False
        )
    ]
    if chief:  # other workers compute the same GHN; only the chief writes files
        callbacks += [
            SaveGHN(str(out), snapshot_epochs=config.snapshot_epochs),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
        ]
    start = time.perf_counter()
    history = trainer.fit(
        train_ds,
        epochs=config.training.epochs,
        steps_per_epoch=config.training.steps_per_epoch,
        validation_data=val_ds,
        validation_steps=config.data.validation_steps,
        callbacks=callbacks,
        verbose=verbose,
    )
    result = {
        "seconds": time.perf_counter() - start,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "cache": trainer.cache_stats(),
        "output_dir": str(out),
    }
    if chief:
        atomic_write_text(out / "run.json", json.dumps(result, indent=2, default=str) + "\n")
    return result
