"""Tune configs: a base training config, a search space and a trial budget.

A tune config (`configs/tune_ghn.yaml`) names a base training config (a
`RunConfig` YAML, path relative to the tune config's folder) and a `search`
section mirroring the training config's sections. Each searched leaf is

* a list: the choices (`hidden: [16, 32]`, `bits: [[4], [2, 4, 8]]`), or
* a range: `{min: 1.0e-4, max: 1.0e-2, sampling: log}` (ints or floats;
  optional `step`).

The base config's value is the default of each hyperparameter (the first
trial), when it is one of the choices or inside the range.

Example:
    >>> cfg = load_tune_config("configs/tune_ghn.yaml", overrides=["tuner.max_trials=2"])
    >>> sorted(cfg.search)
    ['ghn.conv', 'ghn.hidden', 'ghn.num_layers', 'training.bits', ...]
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ghnq_tf.training.config import (
    ConfigError,
    RunConfig,
    apply_override,
    build_section,
    config_from_dict,
    load_config,
)

if TYPE_CHECKING:
    import keras_tuner

_RANGE_KEYS = {"min", "max", "step", "sampling"}
_SAMPLINGS = ("linear", "log", "reverse_log")


@dataclasses.dataclass
class TunerSection:
    oracle: str = "random"  # random | bayesian | hyperband
    max_trials: int = 6
    seed: int = 0
    directory: str = "runs/tune_ghn"
    project_name: str = "ghn"
    max_epochs: int = 3  # hyperband
    factor: int = 3  # hyperband
    hyperband_iterations: int = 1  # hyperband
    num_initial_points: int | None = None  # bayesian


@dataclasses.dataclass
class TrialSection:
    epochs: int = 1  # per trial (hyperband: its own schedule)
    steps_per_epoch: int = 20
    validation_steps: int | None = 2
    objective_bits: int = 4  # the objective: val top-1 of predicted W{b}A{b} parameters


@dataclasses.dataclass
class TuneConfig:
    """A whole tuning run."""

    name: str = "tune"
    base_config: str = "digits_w4a4.yaml"
    base_overrides: list[str] = dataclasses.field(default_factory=list)
    tuner: TunerSection = dataclasses.field(default_factory=TunerSection)
    trial: TrialSection = dataclasses.field(default_factory=TrialSection)
    search: dict[str, Any] = dataclasses.field(default_factory=dict)  # dotted key -> leaf
    output: str | None = None  # best config YAML (default: <directory>/<project>/best.yaml)
    source_dir: str = "."  # folder the base config path is relative to (set by the loader)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def output_path(self) -> Path:
        """Where the best training config is written."""
        if self.output:
            return Path(self.output)
        return Path(self.tuner.directory) / self.tuner.project_name / "best.yaml"

    def base(self) -> RunConfig:
        """The base training config (with `base_overrides`)."""
        path = Path(self.base_config)
        if not path.is_absolute() and not path.is_file():
            path = Path(self.source_dir) / path
        return load_config(path, overrides=self.base_overrides)


def _is_range(leaf: Any) -> bool:
    return isinstance(leaf, dict) and bool(leaf) and set(leaf) <= _RANGE_KEYS


def flatten_search(tree: Any, prefix: str = "search") -> dict[str, Any]:
    """{dotted RunConfig key: leaf} of a nested `search` section."""
    if not isinstance(tree, dict):
        raise ConfigError(f"`{prefix}` must be a mapping. Received: {prefix}={tree!r}")
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}"
        if isinstance(value, list) or _is_range(value):
            flat[dotted.removeprefix("search.")] = value
        elif isinstance(value, dict):
            flat.update(flatten_search(value, dotted))
        else:
            raise ConfigError(
                f"`{dotted}` must be a list of choices or a range {{min, max}}. "
                f"Received: {dotted}={value!r}"
            )
    return flat


def encode_choice(value: Any) -> int | float | str | bool:
    """A Keras Tuner choice value (lists become JSON strings)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def decode_choice(value: Any) -> Any:
    """Inverse of `encode_choice`."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _get(config: RunConfig, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def check_search(search: dict[str, Any], base: RunConfig) -> None:
    """Every searched key exists and every choice/bound is a valid value there."""
    if not search:
        raise ConfigError("`search` must name at least one hyperparameter. Received: search={}")
    data = base.to_dict()
    for key, leaf in search.items():
        if key.split(".")[0] not in {"data", "search_space", "ghn", "training"}:
            raise ConfigError(
                f"`search.{key}` must be a key of the data, search_space, ghn or training "
                f"section. Received: search.{key}"
            )
        if isinstance(leaf, list):
            if not leaf:
                raise ConfigError(f"`search.{key}` has no choices. Received: search.{key}=[]")
            values = leaf
        else:
            missing = {"min", "max"} - set(leaf)
            if missing:
                raise ConfigError(
                    f"`search.{key}` must give `min` and `max`. Received: search.{key}={leaf!r}"
                )
            if leaf.get("sampling", "linear") not in _SAMPLINGS:
                raise ConfigError(
                    f"`search.{key}.sampling` must be one of {_SAMPLINGS}. "
                    f"Received: {leaf['sampling']!r}"
                )
            if not leaf["min"] < leaf["max"]:
                raise ConfigError(
                    f"`search.{key}` needs min < max. Received: search.{key}={leaf!r}"
                )
            values = [leaf["min"], leaf["max"]]
        for value in values:
            try:
                config_from_dict(data, [f"{key}={json.dumps(value)}"])
            except ConfigError as err:
                raise ConfigError(f"`search.{key}`: {err}") from err
    _check_meta_batch(search, base)


def _values(search: dict[str, Any], base: RunConfig, key: str) -> list[Any]:
    leaf = search.get(key)
    if leaf is None:
        return [_get(base, key)]
    return list(leaf) if isinstance(leaf, list) else [leaf["min"], leaf["max"]]


def _check_meta_batch(search: dict[str, Any], base: RunConfig) -> None:
    """Every meta-batch fits every training pool (else trials could not start)."""
    largest = max(_values(search, base, "training.meta_batch"))
    smallest = min(_values(search, base, "search_space.train_size"))
    if largest > smallest:
        raise ConfigError(
            f"`training.meta_batch` can be {largest}, more than the {smallest} architectures "
            "`search_space.train_size` can give: shrink the meta-batch choices or enlarge "
            f"the pool. Received: meta_batch up to {largest}, train_size down to {smallest}"
        )


def tune_config_from_dict(
    data: dict[str, Any], overrides: list[str] | None = None, *, source_dir: str = "."
) -> TuneConfig:
    """Validates a tune config mapping (plus `key=value` overrides).

    Overrides of the base training config are written `base.<key>=<value>`
    (e.g. `base.training.meta_batch=2`).
    """
    data = yaml.safe_load(yaml.safe_dump(data or {}))
    base_overrides = []
    for override in overrides or []:
        if override.startswith("base."):
            base_overrides.append(override.removeprefix("base."))
        else:
            apply_override(data, override)
    search = flatten_search(data.pop("search", {}) or {})
    data.pop("source_dir", None)
    config = build_section(TuneConfig, data, "")
    config.search = search
    config.base_overrides = [*config.base_overrides, *base_overrides]
    config.source_dir = source_dir
    from ghnq_tf.tuning.oracles import ORACLES

    if config.tuner.oracle not in ORACLES:
        raise ConfigError(
            f"`tuner.oracle` must be one of {ORACLES}. "
            f"Received: tuner.oracle={config.tuner.oracle!r}"
        )
    if not 2 <= config.trial.objective_bits <= 8:
        raise ConfigError(
            "`trial.objective_bits` must be in 2..8. Received: "
            f"trial.objective_bits={config.trial.objective_bits!r}"
        )
    for key in ("tuner.max_trials", "trial.epochs", "trial.steps_per_epoch"):
        value = _get(config, key)  # type: ignore[arg-type]
        if value < 1:
            raise ConfigError(f"`{key}` must be a positive int. Received: {key}={value!r}")
    check_search(config.search, config.base())
    return config


def load_tune_config(path: str | os.PathLike, overrides: list[str] | None = None) -> TuneConfig:
    """Reads and validates a tune config YAML file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"No tune config file at {str(source)!r}.")
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{str(source)!r} is not valid YAML: {err}") from err
    config = tune_config_from_dict(data, overrides, source_dir=str(source.parent))
    if "name" not in data:
        config.name = source.stem
    return config


def search_hyperparameters(
    search: Mapping[str, Any], base: RunConfig
) -> keras_tuner.HyperParameters:
    """The Keras Tuner space of a `search` section; defaults from `base`.

    Args:
        search: {dotted RunConfig key: list of choices or {min, max, step,
            sampling}}.
        base: the base training config (its values are the defaults when
            they are choices or in range).

    Returns:
        A `keras_tuner.HyperParameters` named by the dotted keys.
    """
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for key, leaf in search.items():
        current = _get(base, key)
        if isinstance(leaf, list):
            values = [encode_choice(v) for v in leaf]
            encoded = encode_choice(current)
            hp.Choice(key, values, default=encoded if encoded in values else None)
            continue
        low, high = leaf["min"], leaf["max"]
        inside = isinstance(current, (int, float)) and low <= current <= high
        options = {"sampling": leaf.get("sampling", "linear")}
        if isinstance(low, int) and isinstance(high, int):
            hp.Int(
                key,
                low,
                high,
                step=leaf.get("step"),
                default=current if inside else None,
                **options,
            )
        else:
            hp.Float(
                key,
                float(low),
                float(high),
                step=leaf.get("step"),
                default=float(current) if inside else None,
                **options,
            )
    return hp


def apply_values(base: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """`base` with the searched keys set to `values` (Keras Tuner's `tuner/*` ignored)."""
    overrides = [
        f"{key}={json.dumps(decode_choice(value))}"
        for key, value in values.items()
        if not key.startswith("tuner/")
    ]
    return config_from_dict(base.to_dict(), overrides)
