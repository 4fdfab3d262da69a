"""`ghnq-tf train`'s run setup: `training.init_from` and a short run end to end."""

import json

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf.training.config import load_config
from ghnq_tf.training.run import initial_ghn, make_datasets, train

TINY = ["ghn.hidden=8", "ghn.num_layers=1", "ghn.rank=2", "ghn.basis=2", "ghn.channels=16"]


def _same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


def test_init_from_a_bundled_name_loads_its_weights():
    config = load_config("configs/digits_w4a4.yaml", overrides=["training.init_from=digits"])
    assert _same_weights(initial_ghn(config), gq.GHN.from_pretrained("digits"))


def test_init_from_must_match_the_ghn_section(tmp_path):
    path = str(tmp_path / "start.keras")
    gq.GHN(hidden=8, num_layers=1, rank=2, basis=2, channels=16).build_all().save(path)
    config = load_config(
        "configs/digits_w4a4.yaml",
        overrides=[*TINY[:-1], "ghn.channels=32", f"training.init_from={path}"],
    )
    with pytest.raises(
        ValueError, match=r"differs in \['channels'\].*'channels': 16.*'channels': 32"
    ):
        initial_ghn(config)
    config.training.init_from = str(tmp_path / "missing.keras")
    with pytest.raises(FileNotFoundError, match="No GHN checkpoint"):
        initial_ghn(config)


def test_init_from_may_switch_decoding_options_on(tmp_path):
    path = str(tmp_path / "start.keras")
    start = gq.GHN(hidden=8, num_layers=1, rank=2, basis=2, channels=16).build_all()
    start.save(path)
    config = load_config(
        "configs/digits_w4a4.yaml",
        overrides=[
            *TINY[:-1],
            "ghn.channels=16",
            "ghn.roll_pointwise=true",
            "ghn.orthogonal_kernels=true",
            f"training.init_from={path}",
        ],
    )
    ghn = initial_ghn(config)
    assert ghn.roll_pointwise and ghn.orthogonal_kernels
    assert _same_weights(ghn, start)


def test_a_run_started_from_a_checkpoint_trains_on_from_it(tmp_path):
    start = gq.GHN(hidden=8, num_layers=1, rank=2, basis=2, channels=16).build_all()
    start.save(str(tmp_path / "start.keras"))
    config = load_config(
        "configs/digits_w4a4.yaml",
        overrides=[
            *TINY,
            f"training.init_from={tmp_path / 'start.keras'}",
            "search_space.train_size=2",
            "search_space.val_size=1",
            "training.meta_batch=1",
            "training.epochs=1",
            "training.steps_per_epoch=2",
            "data.validation_steps=1",
            "data.batch_size=16",
            f"output_dir={tmp_path / 'run'}",
        ],
    )
    result = train(config, verbose=0)
    assert len(result["history"]["loss"]) == 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["training"]["init_from"] == str(tmp_path / "start.keras")
    trained = gq.GHN.load(str(tmp_path / "run" / "ghn_last.keras"))
    moved = [
        np.abs(a - b).max() for a, b in zip(trained.get_weights(), start.get_weights(), strict=True)
    ]
    # Two Adam steps from the checkpoint: every weight is near its start, some moved.
    assert 0.0 < max(moved) < 0.05


def test_validation_reads_the_same_images_every_time():
    # `train[-300:]` is a hold-out of 'train', which gq.data.load reshuffles by
    # default: validations would each read another draw of images.
    config = load_config("configs/digits_w4a4.yaml", overrides=["data.batch_size=32"])
    _, val_ds, _, _ = make_datasets(config)
    first, again = (np.concatenate([y.numpy() for _, y in val_ds.take(3)]) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    images = np.concatenate([x.numpy() for x, _ in val_ds.take(1)])
    expected = gq.data.load("digits", "train[-300:]", shuffle=False, batch_size=32, image_size=16)
    np.testing.assert_array_equal(images, next(iter(expected))[0].numpy())
