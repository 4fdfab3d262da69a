"""The random family of CNNs the GHN is trained on, and its fixed splits.

DeepNets-1M-like networks (Knyazev et al., 2021) sized for CPU training: a
stem, DARTS-style cells (two of them reduction cells), global average
pooling and a Dense classifier. An architecture is a small JSON-serializable
spec; `build` turns it into a `tf_keras` model.

Example:
    from ghnq_tf import search_space
    specs = search_space.split("train", 1000)      # or sample(n, seed=...)
    model = search_space.build(specs[0], input_shape=(32, 32, 3), num_classes=10)
    search_space.print_summary("val", n=10)
"""

from ghnq_tf.search_space.builder import build
from ghnq_tf.search_space.cost import macs
from ghnq_tf.search_space.ops import OPS
from ghnq_tf.search_space.spec import SPACES, Space, sample, spec_hash, validate_spec
from ghnq_tf.search_space.splits import SPLIT_NAMES, split
from ghnq_tf.search_space.summary import print_summary, summarize

__all__ = [
    "OPS",
    "SPACES",
    "SPLIT_NAMES",
    "Space",
    "build",
    "macs",
    "print_summary",
    "sample",
    "spec_hash",
    "split",
    "summarize",
    "validate_spec",
]
