"""The random families of CNNs the GHN is trained on, and their fixed splits.

Two families, both sized for CPU training:

- DeepNets-1M-like networks (Knyazev et al., 2021): a stem, DARTS-style
  cells (two of them reduction cells), global average pooling and a Dense
  classifier (`Space`, splits ``train``, ``val``, ``test``, ``wide``,
  ``deep``, ``bnfree``).
- The block family (``"family": "blocks"``): stages of VGG, ResNet
  basic/bottleneck, MobileNetV2 inverted, MobileNetV3/EfficientNet MBConv
  and DenseNet blocks (`BlocksSpace`, splits ``zoo_train``, ``zoo_val``,
  ``zoo``).

An architecture is a small JSON-serializable spec; `build` turns it into a
`tf_keras` model.

Example:
    from ghnq_tf import search_space
    specs = search_space.split("train", 1000)      # or sample(n, seed=...)
    model = search_space.build(specs[0], input_shape=(32, 32, 3), num_classes=10)
    search_space.print_summary("val", n=10)
    zoo = search_space.split("zoo")                 # 500 block-family networks
"""

from ghnq_tf.search_space.blocks import BLOCKS
from ghnq_tf.search_space.blocks_sampling import BlocksSpace
from ghnq_tf.search_space.builder import build
from ghnq_tf.search_space.cost import macs
from ghnq_tf.search_space.ops import OPS
from ghnq_tf.search_space.spec import (
    FAMILIES,
    SPACES,
    Space,
    family_of,
    sample,
    spec_hash,
    validate_spec,
)
from ghnq_tf.search_space.splits import FAMILY_TRAIN_SPLITS, SPLIT_NAMES, split
from ghnq_tf.search_space.summary import print_summary, summarize

__all__ = [
    "BLOCKS",
    "FAMILIES",
    "FAMILY_TRAIN_SPLITS",
    "OPS",
    "SPACES",
    "SPLIT_NAMES",
    "BlocksSpace",
    "Space",
    "build",
    "family_of",
    "macs",
    "print_summary",
    "sample",
    "spec_hash",
    "split",
    "summarize",
    "validate_spec",
]
