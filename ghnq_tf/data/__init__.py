"""Datasets for ghnq_tf: CIFAR-10 (tfds), image folders and embedded digits.

Example:
    import ghnq_tf as gq
    ds = gq.data.load("digits", "train", batch_size=64)
    gq.data.info("cifar10")["splits"]  # images per split
"""

from ghnq_tf.data.registry import DATASETS, info, load

__all__ = ["DATASETS", "info", "load"]
