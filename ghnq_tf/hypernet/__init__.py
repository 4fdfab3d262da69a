"""The graph hypernetwork: encoder, TF-GNN message passing, decoder, save/load."""

from ghnq_tf.hypernet.decoder import ParamDecoder
from ghnq_tf.hypernet.encoder import NodeEncoder
from ghnq_tf.hypernet.ghn import GHN
from ghnq_tf.hypernet.message_passing import MessagePassing

__all__ = ["GHN", "MessagePassing", "NodeEncoder", "ParamDecoder"]
