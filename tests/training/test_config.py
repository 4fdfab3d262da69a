"""Training configs: the shipped files load; bad keys and types are named."""

import dataclasses
import inspect
from pathlib import Path

import pytest

from ghnq_tf.hypernet.ghn import GHN
from ghnq_tf.training.config import (
    ConfigError,
    GHNConfig,
    RunConfig,
    config_from_dict,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = [
    "cifar10_w8a8",
    "cifar10_w4a4",
    "cifar10_w2a2",
    "cifar10_mixed",
    "cifar10_float",
    "screen",
    "digits_w4a4",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    config = load_config(CONFIGS / f"{name}.yaml")
    assert config.name == name and config.output_dir == f"runs/{name}"


def test_shipped_configs_say_what_they_train():
    bits = {n: load_config(CONFIGS / f"{n}.yaml").training for n in SHIPPED}
    assert bits["cifar10_w2a2"].bits == [2] and bits["cifar10_mixed"].bits == [2, 4, 8]
    assert bits["cifar10_float"].qat is False and bits["cifar10_w4a4"].qat is True
    # GHN-QAT's recipe: the QAT configs fine-tune the float baseline's GHN,
    # built alike (same data, networks and GHN); only the training budget differs.
    w4, fl = (
        load_config(CONFIGS / f"{n}.yaml").to_dict() for n in ("cifar10_w4a4", "cifar10_float")
    )
    assert w4["training"]["init_from"] == f"{fl['output_dir']}/ghn_best.keras"
    assert fl["training"]["init_from"] is None
    for key in ("data", "search_space", "ghn"):
        assert w4[key] == fl[key]
    same = ("bits", "meta_batch", "cache_size", "trace_after", "optimizer", "grad_clip", "seed")
    assert all(w4["training"][k] == fl["training"][k] for k in same)


def test_overrides_and_coercion():
    config = config_from_dict(
        {"training": {"bits": 4}},
        [
            "training.epochs=2",
            "ghn.hidden=16",
            "training.learning_rate=1e-4",
            "data.image_size=null",
        ],
    )
    assert config.training.bits == [4] and config.training.epochs == 2
    assert config.ghn.hidden == 16 and config.training.learning_rate == pytest.approx(1e-4)


def test_distill_section_reads_nested_overrides(tmp_path):
    from ghnq_tf.training.run import load_teacher

    config = config_from_dict(
        {}, ["training.distill.teacher=t.keras", "training.distill.temperature=2"]
    )
    distill = config.training.distill
    assert (distill.teacher, distill.temperature, distill.weight) == ("t.keras", 2.0, 0.5)
    assert config_from_dict({}).training.distill.teacher is None  # off by default
    with pytest.raises(ConfigError, match="Unknown config key `training.distill.teachr`"):
        config_from_dict({}, ["training.distill.teachr=t.keras"])
    assert load_teacher(None) is None
    with pytest.raises(FileNotFoundError, match="research/train_teacher.py"):
        load_teacher(str(tmp_path / "missing.keras"))
    (tmp_path / "bad.keras").write_text("not a model")
    with pytest.raises(ValueError, match="not a readable tf_keras model"):
        load_teacher(str(tmp_path / "bad.keras"))


@pytest.mark.parametrize(
    ("data", "overrides", "message"),
    [
        ({"training": {"epoch": 3}}, [], "Unknown config key `training.epoch`"),
        ({"trainig": {}}, [], "Unknown config key `trainig`"),
        ({"training": {"epochs": "ten"}}, [], "`training.epochs` must be of type int"),
        ({"training": {"qat": 1}}, [], "`training.qat` must be of type bool"),
        ({"training": {"bits": [9]}}, [], "`training.bits` must be values in 2..8"),
        ({"ghn": {"conv": "gcn"}}, [], "`ghn.conv` must be one of"),
        ({}, ["training.epochs"], "An override reads `key=value`"),
        ({}, ["ghn.hiden=3"], "Unknown config key `ghn.hiden`"),
        ({}, ["snapshot_epochs=[0, 4]"], "`snapshot_epochs` must be epochs >= 1"),
    ],
)
def test_bad_configs_name_the_key(data, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        config_from_dict(data, overrides)


def test_missing_file_lists_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)
    with pytest.raises(FileNotFoundError, match="Configs in ./configs: .*digits_w4a4"):
        load_config(tmp_path / "nope.yaml")


def test_training_pool_keeps_only_architectures_within_max_macs():
    import ghnq_tf as gq
    from ghnq_tf.training.run import training_pool

    config = RunConfig()
    config.search_space.train_size = 12
    assert training_pool(config, (32, 32, 3)) == gq.search_space.split("train", 12)
    config.search_space.max_macs = 60_000_000
    pool = training_pool(config, (32, 32, 3))
    assert len(pool) == 12
    assert all(gq.search_space.macs(s) <= 60_000_000 for s in pool)
    stream = gq.search_space.split("train", 400)
    kept = [s for s in stream if gq.search_space.macs(s) <= 60_000_000][:12]
    assert pool == kept  # the first cheap ones, in stream order


def test_training_pool_batch_norm_only_skips_networks_without_batch_norm():
    import ghnq_tf as gq
    from ghnq_tf.training.run import training_pool

    config = RunConfig()
    config.search_space.train_size = 40
    config.search_space.max_macs = 50_000_000
    mixed = training_pool(config, (32, 32, 3))
    assert not all(s["bn"] for s in mixed)  # the cap alone keeps BN-free networks
    config.search_space.batch_norm_only = True
    pool = training_pool(config, (32, 32, 3))
    assert len(pool) == 40
    assert all(s["bn"] and gq.search_space.macs(s) <= 50_000_000 for s in pool)
    assert [s for s in mixed if s["bn"]] == pool[: sum(s["bn"] for s in mixed)]  # stream order


def test_training_pool_names_an_impossible_cap():
    from ghnq_tf.training.run import training_pool

    config = RunConfig()
    config.search_space.train_size = 2
    config.search_space.max_macs = 10
    with pytest.raises(ConfigError, match="max_macs"):
        training_pool(config, (32, 32, 3))
    config.search_space.batch_norm_only = True
    with pytest.raises(ConfigError, match="turn off batch_norm_only .*batch_norm_only=True"):
        training_pool(config, (32, 32, 3))


def test_ghn_section_defaults_are_the_ghn_defaults():
    # config.py repeats GHN's defaults as literals (it must not import TensorFlow)
    signature = inspect.signature(GHN.__init__).parameters
    for field in dataclasses.fields(GHNConfig):
        assert field.default == signature[field.name].default, field.name
