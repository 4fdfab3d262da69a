"""The fixed named splits: sizes, pinned contents, disjointness, OOD properties."""

import hashlib

import pytest

from ghnq_tf import search_space as ss
from ghnq_tf.search_space.spec import SPACES, canonical_json
from ghnq_tf.search_space.splits import SPLIT_SIZES, TRAIN_SPLITS

# Produced once with
#     hashlib.sha256(canonical_json(split(name)).encode("ascii")).hexdigest()
# (train, zoo_train: their first 100). The sampler has its own portable PRNG, so these
# must hold on every machine; if a change to the sampler is intended, the
# splits change and every GHN result on them must be redone.
PINNED = {
    "train": "504614aeb3b78fe31b858876871e514d5c56775b2ea59af11fd48f649d1b7482",
    "val": "a2aacf36c0ca849ed7d50eaff4cacfb6b9bfad504bbbc8cb0b27c0a6b31e92c7",
    "test": "4cecf785d75998884a4051f2d7a7066c03653dd0533dd09c5073a4d69c92ef8f",
    "wide": "162a25152497a25a0669512522ca0db21253ecdae35ed112fc3aa76d15ca7a1d",
    "deep": "39f301caffb37d319a8b0e877d8efb9c60f5fd375c800c87009d409e1096460b",
    "bnfree": "03b4d6bb85d9acf53099b2a43ce1540939c6b94e221eee970f6fcc3e38cf9c68",
    "zoo_train": "5e5d1051fbe956191cc40f3c4c45e00cf7116ea6d3483c5006656ba6fcae57cb",
    "zoo_val": "519e7efc79930213b4b7619d984a258d1e35551cc0e0be919229cd9fda2a865a",
    "zoo": "c99986304c460802b6496829ca22f74656ae5631d24b62dc5c0723b20207aa46",
}

TRAIN_N = 3000


@pytest.fixture(scope="module")
def train():
    return ss.split("train", TRAIN_N)


@pytest.fixture(scope="module")
def zoo_train():
    return ss.split("zoo_train", 1000)


def _hashes(specs):
    return {ss.spec_hash(spec) for spec in specs}


def test_split_names_and_sizes():
    assert ss.SPLIT_NAMES == (
        "train", "val", "test", "wide", "deep", "bnfree", "zoo_train", "zoo_val", "zoo"
    )  # fmt: skip
    sizes = {name: len(ss.split(name)) for name in ss.SPLIT_NAMES if name not in TRAIN_SPLITS}
    assert sizes == {
        "val": 100, "test": 500, "wide": 100, "deep": 100, "bnfree": 100, "zoo_val": 100, "zoo": 500
    }  # fmt: skip
    assert sizes == SPLIT_SIZES
    assert len(ss.split("train", 17)) == 17
    assert len(ss.split("zoo_train", 17)) == 17


@pytest.mark.parametrize("name", sorted(PINNED))
def test_splits_are_pinned(name):
    specs = ss.split(name, 100 if name in TRAIN_SPLITS else None)
    digest = hashlib.sha256(canonical_json(specs).encode("ascii")).hexdigest()
    assert digest == PINNED[name]


def test_train_is_a_seeded_stream_with_prefixes(train):
    assert ss.split("train", 10) == train[:10]
    assert ss.split("train", 10) == ss.split("train", 10)


def test_no_spec_is_in_two_splits(train, zoo_train):
    seen = set()
    for name in ss.SPLIT_NAMES:
        specs = {"train": train, "zoo_train": zoo_train}.get(name) or ss.split(name)
        hashes = _hashes(specs)
        assert len(hashes) == len(specs), f"duplicates inside {name}"
        assert not hashes & seen, f"{name} overlaps an earlier split"
        seen |= hashes


def test_exclusion_by_hash_skips_eval_specs():
    # val and test are one stream (first 100, next 500): excluding val from
    # that stream must give the test split, exactly as train excludes them.
    assert ss.sample(20, seed=1, exclude=ss.split("val")) == ss.split("test", 20)


def test_val_and_test_come_from_the_train_space(train):
    for spec in ss.split("val") + ss.split("test"):
        assert 16 <= spec["width"] <= 64 and 4 <= spec["num_cells"] <= 10


def test_ood_splits_have_their_property(train):
    train_max_width = max(spec["width"] for spec in train)
    train_max_cells = max(spec["num_cells"] for spec in train)
    assert train_max_width == SPACES["train"].width[1]
    assert train_max_cells == SPACES["train"].num_cells[1]
    wide, deep, bnfree = ss.split("wide"), ss.split("deep"), ss.split("bnfree")
    assert min(spec["width"] for spec in wide) > train_max_width
    assert min(spec["num_cells"] for spec in deep) > train_max_cells
    assert not any(spec["bn"] for spec in bnfree)
    # Otherwise in distribution.
    assert all(spec["num_cells"] <= train_max_cells for spec in wide + bnfree)
    assert all(spec["width"] <= train_max_width for spec in deep + bnfree)


def test_families_of_the_splits(zoo_train):
    for name in ("val", "test", "wide", "deep", "bnfree"):
        assert {ss.family_of(spec) for spec in ss.split(name)} == {"darts"}
    for specs in (zoo_train, ss.split("zoo_val"), ss.split("zoo")):
        assert {ss.family_of(spec) for spec in specs} == {"blocks"}
    assert ss.FAMILY_TRAIN_SPLITS == {"darts": "train", "blocks": "zoo_train"}


def test_zoo_splits_are_one_stream_and_zoo_train_excludes_them(zoo_train):
    # zoo_val and zoo are the first 100 and the next 500 of one stream.
    assert ss.sample(20, seed=11, space="blocks", exclude=ss.split("zoo_val")) == ss.split(
        "zoo", 20
    )
    assert ss.split("zoo_train", 10) == zoo_train[:10]
    zoo_hashes = {ss.spec_hash(s) for s in ss.split("zoo_val") + ss.split("zoo")}
    assert not zoo_hashes & {ss.spec_hash(s) for s in zoo_train}


def test_zoo_covers_every_block_kind():
    blocks = {stage["block"] for spec in ss.split("zoo") for stage in spec["stages"]}
    assert blocks == set(ss.BLOCKS)
    blocks = {stage["block"] for spec in ss.split("zoo_val") for stage in spec["stages"]}
    assert blocks == set(ss.BLOCKS)


def test_split_returns_copies():
    specs = ss.split("val", 2)
    specs[0]["width"] = 999
    specs.append({})
    assert ss.split("val", 2)[0]["width"] != 999
    assert len(ss.split("val", 2)) == 2


@pytest.mark.parametrize(
    "args, match",
    [
        (("holdout",), r"`name` must be one of .* Received: name='holdout'"),
        (("train",), r"`n` is required for the \"train\" split"),
        (("zoo_train",), r"`n` is required for the \"zoo_train\" split"),
        (("zoo", 501), r"`n` must be at most 500, .* Received: n=501"),
        (("train", 0), r"`n` must be a positive int or None. Received: n=0"),
        (("val", 101), r"`n` must be at most 100, .* Received: n=101"),
    ],
)
def test_split_errors(args, match):
    with pytest.raises(ValueError, match=match):
        ss.split(*args)
