"""ghnq_tf: graph hypernetworks that predict quantization-robust parameters.

Example:
    >>> import ghnq_tf as gq
    >>> graph = gq.graph_from_keras(model)
"""

from ghnq_tf import _keras  # noqa: F401  (must run before anything imports TensorFlow)
from ghnq_tf._version import __version__

__all__ = ["__version__"]
