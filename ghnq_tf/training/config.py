"""Training configs: YAML files with a fixed, typed schema.

A config has five sections. Every key is known and typed; an unknown key or a
wrong type is rejected with the key's dotted name. `--override key=value`
(dotted keys, YAML values) edits a loaded config.

Example:
    >>> cfg = load_config("configs/digits_w4a4.yaml", overrides=["training.epochs=2"])
    >>> cfg.training.bits
    [4]
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml


@dataclasses.dataclass
class DataConfig:
    name: str = "digits"  # digits | cifar10 | image_folder:<path>
    image_folder: str | None = None  # used instead of tfds when the folder exists
    data_dir: str | None = None
    batch_size: int = 64
    image_size: int | None = None
    augment: bool = False
    train_split: str = "train"  # e.g. "train[:-2000]": keeps a hold-out for validation
    val_split: str = "test"  # e.g. "train[-2000:]": never the test images for model selection
    validation_steps: int | None = None


@dataclasses.dataclass
class SearchSpaceConfig:
    train_size: int = 256  # architectures in the training pool (`split("train", n)`)
    # Keep only training architectures up to this many multiply-accumulates at
    # the training image size (None: all). Cheaper networks are more steps per
    # hour on a CPU; evaluation splits are never filtered.
    max_macs: int | None = None
    # Skip training architectures without batch norm (the GHN has not learned
    # them on CIFAR-10; see docs/benchmarks.md). Evaluation splits keep them.
    batch_norm_only: bool = False
    val_size: int = 10  # `val` architectures whose accuracy validation reports
    # Search-space families the training pool mixes, in equal shares: "darts"
    # (cells, split "train") and "blocks" (VGG/ResNet/MobileNet/DenseNet
    # stages, split "zoo_train"); see docs/search_space.md.
    families: list[str] = dataclasses.field(default_factory=lambda: ["darts"])


@dataclasses.dataclass
class GHNConfig:
    hidden: int = 64
    num_layers: int = 3
    conv: str = "simple"
    max_distance: int = 50
    channels: int = 64
    kernel_size: int = 7
    rank: int = 16
    basis: int = 32
    templates: int = 0
    bank_stddev: float = 1.0
    beta: float = 1.0
    classifier_beta: float = 0.1  # decoder.CLASSIFIER_BETA
    roll_pointwise: bool = False
    orthogonal_kernels: bool = False
    centre_coefficients: float = 0.0
    centre_states: bool = False
    skip_states: bool = False


@dataclasses.dataclass
class DistillConfig:
    # A saved tf_keras classifier of the training images (`.keras`); None:
    # no distillation. Each batch runs through it once.
    teacher: str | None = None
    temperature: float = 4.0
    weight: float = 0.5  # of the distillation term; the labels keep 1 - weight


@dataclasses.dataclass
class TrainingConfig:
    bits: list[int] = dataclasses.field(default_factory=lambda: [4])
    qat: bool = True
    meta_batch: int = 8
    cache_size: int = 64
    trace_after: int | None = 8
    optimizer: str = "adam"  # adam | adamw | sgd
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine
    grad_clip: float | None = 5.0
    epochs: int = 10
    steps_per_epoch: int = 100
    param_penalty: float = 3e-5
    # Weight of the mean squared cosine between the filters of each predicted
    # conv kernel, summed over kernels (ghnq_tf/training/filter_correlation.py).
    filter_decorrelation: float = 0.0
    label_smoothing: float = 0.0
    network_clip: float | None = 10.0
    activation_ranges: str = "initial"  # initial | batch | mse (weights too)
    seed: int = 0
    # Draw each step's networks from a window of this many consecutive pool
    # networks, sliding by one every `window_steps` steps: a pool larger than
    # `cache_size` then costs one network build per `window_steps` steps.
    # None: draw from the whole pool.
    window: int | None = None
    window_steps: int = 4
    # A GHN checkpoint (path or bundled name) whose weights start the run, e.g.
    # a float-trained GHN fine-tuned with QAT as in GHN-QAT; its `ghn`
    # section must equal this config's. None: random initialization.
    init_from: str | None = None
    distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)


@dataclasses.dataclass
class RunConfig:
    """A whole training run."""

    name: str = "run"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    search_space: SearchSpaceConfig = dataclasses.field(default_factory=SearchSpaceConfig)
    ghn: GHNConfig = dataclasses.field(default_factory=GHNConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    strategy: str = "default"  # default | one_device | mirrored | multi_worker
    output_dir: str = "runs/run"
    checkpoint_every: int = 50  # steps between resumable backups
    # Epochs after which the GHN is also kept as snapshots/ghn_epoch<N>.keras.
    snapshot_epochs: list[int] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {
    "training.optimizer": ("adam", "adamw", "sgd"),
    "training.schedule": ("constant", "cosine"),
    "training.activation_ranges": ("initial", "batch", "mse"),
    "ghn.conv": ("simple", "gatv2", "sweep"),
    "strategy": ("default", "one_device", "mirrored", "multi_worker"),
}


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"`{key}` must be {_type_name(tp)}. Received: {key}={value!r}")
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]  # `bits: 4` means [4]
        if not isinstance(value, list):
            raise ConfigError(f"`{key}` must be a list. Received: {key}={value!r}")
        return [_coerce(v, item, key) for v in value]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads `1e-3` as a string
        except ValueError:
            pass
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(
            f"`{key}` must be of type {_type_name(tp)}. Received: {key}={value!r} "
            f"({type(value).__name__})"
        )
    return value


def build_section(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"`{prefix or 'config'}` must be a mapping. Received: {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(
            f"Unknown config key `{name}`. Valid keys{' of ' + prefix if prefix else ''}: "
            f"{', '.join(sorted(fields))}"
        )
    values = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            values[key] = build_section(tp, value, dotted)
        else:
            values[key] = _coerce(value, tp, dotted)
            if dotted in _CHOICES and values[key] not in _CHOICES[dotted]:
                raise ConfigError(
                    f"`{dotted}` must be one of {_CHOICES[dotted]}. Received: {dotted}={value!r}"
                )
    return cls(**values)


def apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"An override reads `key=value`. Received: {override!r}")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"`{key}` does not name a config section. Received: {override!r}")
    node[parts[-1]] = yaml.safe_load(raw)


def config_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    """Validates a config mapping (plus `key=value` overrides) into a RunConfig."""
    data = yaml.safe_load(yaml.safe_dump(data or {}))  # deep copy of plain values
    for override in overrides or []:
        apply_override(data, override)
    config = build_section(RunConfig, data, "")
    bits = config.training.bits
    if not bits or any(not 2 <= b <= 8 for b in bits):
        raise ConfigError(f"`training.bits` must be values in 2..8. Received: {bits!r}")
    if any(e < 1 for e in config.snapshot_epochs):
        raise ConfigError(
            "`snapshot_epochs` must be epochs >= 1. Received: "
            f"snapshot_epochs={config.snapshot_epochs!r}"
        )
    families = config.search_space.families
    if not families or len(set(families)) != len(families) or set(families) - {"darts", "blocks"}:
        raise ConfigError(
            "`search_space.families` must be distinct values among ('darts', 'blocks'). "
            f"Received: search_space.families={families!r}"
        )
    return config


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
    """Reads and validates a YAML config file."""
    source = Path(path)
    if not source.is_file():
        shipped = sorted(p.stem for p in Path("configs").glob("*.yaml"))
        raise FileNotFoundError(
            f"No config file at {str(source)!r}."
            + (f" Configs in ./configs: {', '.join(shipped)}." if shipped else "")
        )
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{str(source)!r} is not valid YAML: {err}") from err
    config = config_from_dict(data, overrides)
    if "name" not in data:
        config.name = source.stem
    return config
