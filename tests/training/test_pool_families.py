"""`search_space.families`: a training pool that mixes the DARTS and block families."""

import pytest

import ghnq_tf as gq
from ghnq_tf.training.config import ConfigError, RunConfig, config_from_dict
from ghnq_tf.training.run import training_pool


def test_families_default_to_darts_and_validate():
    assert RunConfig().search_space.families == ["darts"]
    config = config_from_dict({"search_space": {"families": ["darts", "blocks"]}})
    assert config.search_space.families == ["darts", "blocks"]
    for bad in (["cells"], [], ["blocks", "blocks"]):
        with pytest.raises(ConfigError, match=r"`search_space.families` must be distinct values"):
            config_from_dict({"search_space": {"families": bad}})


def test_a_mixed_pool_interleaves_both_training_splits():
    config = RunConfig()
    config.search_space.train_size = 7
    config.search_space.families = ["darts", "blocks"]
    pool = training_pool(config, (32, 32, 3))
    assert [gq.search_space.family_of(s) for s in pool] == ["darts", "blocks"] * 3 + ["darts"]
    assert pool[0::2] == gq.search_space.split("train", 4)
    assert pool[1::2] == gq.search_space.split("zoo_train", 3)


def test_a_mixed_pool_applies_the_filters_to_each_family():
    config = RunConfig()
    config.search_space.train_size = 20
    config.search_space.families = ["blocks", "darts"]
    config.search_space.max_macs = 50_000_000
    config.search_space.batch_norm_only = True
    pool = training_pool(config, (32, 32, 3))
    assert len(pool) == 20 and gq.search_space.family_of(pool[0]) == "blocks"
    assert all(s["bn"] and gq.search_space.macs(s) <= 50_000_000 for s in pool)
    config.search_space.families = ["blocks"]
    config.search_space.train_size = 10
    assert training_pool(config, (32, 32, 3)) == pool[0::2]
