"""The `tfgnn.GraphSchema` of the GraphTensors that `graphs_to_tensor` makes.

One graph component per model. One node set, `ops`, with a node per graph
node of `ArchGraph`; three edge sets over it:

* `fwd`: data flow, source → target.
* `bwd`: the same edges reversed.
* `virtual`: GHN-2's virtual edges between nodes 2..k apart along data flow
  (both directions), with the shortest-path distance as a feature.

A second node set, `params`, has one node per parameter tensor (in
`ArchGraph.params` order) with its Keras shape, decoder kind and fan-in; the
edge set `owner` joins each `ops` node to the parameters it predicts.

The context holds the target bitwidth of each model (`bits`, 32 = float).
"""

from __future__ import annotations

NODE_SET = "ops"
PARAM_SET = "params"
EDGE_SETS = ("fwd", "bwd", "virtual", "owner")
FLOAT_BITS = 32

GRAPH_SCHEMA_PBTXT = f"""
context {{
  features {{
    key: "bits"
    value {{ dtype: DT_INT32 description: "target bitwidth of the model; {FLOAT_BITS} = float" }}
  }}
}}
node_sets {{
  key: "{NODE_SET}"
  value {{
    description: "one node per parameter tensor or parameter-free op"
    features {{
      key: "op"
      value {{ dtype: DT_INT32 description: "index into ghnq_tf.graph.OPS" }}
    }}
    features {{
      key: "shape"
      value {{
        dtype: DT_INT32
        shape {{ dim {{ size: 4 }} }}
        description: "parameter shape (out, in, kh, kw); pools (0, 0, k, k)"
      }}
    }}
    features {{ key: "stride" value {{ dtype: DT_INT32 }} }}
    features {{ key: "dilation" value {{ dtype: DT_INT32 }} }}
    features {{ key: "groups" value {{ dtype: DT_INT32 }} }}
    features {{
      key: "activation"
      value {{ dtype: DT_INT32 description: "index into ghnq_tf.graph.ACTIVATIONS" }}
    }}
    features {{
      key: "is_output"
      value {{ dtype: DT_INT32 description: "1 if the node produces a model output" }}
    }}
    features {{
      key: "depth"
      value {{ dtype: DT_INT32 description: "longest data-flow path from an input" }}
    }}
    features {{
      key: "height"
      value {{ dtype: DT_INT32 description: "longest data-flow path to an output" }}
    }}
  }}
}}
node_sets {{
  key: "{PARAM_SET}"
  value {{
    description: "one node per parameter tensor, in ArchGraph.params order"
    features {{
      key: "kind"
      value {{ dtype: DT_INT32 description: "index into ghnq_tf.graph.PARAM_KINDS" }}
    }}
    features {{
      key: "shape"
      value {{
        dtype: DT_INT32
        shape {{ dim {{ size: 4 }} }}
        description: "Keras shape, left-padded with zeros to rank 4"
      }}
    }}
    features {{ key: "fan_in" value {{ dtype: DT_INT32 }} }}
  }}
}}
edge_sets {{
  key: "owner"
  value {{ source: "{NODE_SET}" target: "{PARAM_SET}" description: "node → its parameters" }}
}}
edge_sets {{
  key: "fwd"
  value {{ source: "{NODE_SET}" target: "{NODE_SET}" description: "data flow" }}
}}
edge_sets {{
  key: "bwd"
  value {{ source: "{NODE_SET}" target: "{NODE_SET}" description: "data flow reversed" }}
}}
edge_sets {{
  key: "virtual"
  value {{
    source: "{NODE_SET}"
    target: "{NODE_SET}"
    description: "node pairs 2..k apart along data flow, both directions"
    features {{ key: "distance" value {{ dtype: DT_INT32 description: "shortest-path distance" }} }}
  }}
}}
"""


def graph_schema():
    """The schema as a `tfgnn.GraphSchema` proto."""
    import tensorflow_gnn as tfgnn

    return tfgnn.parse_schema(GRAPH_SCHEMA_PBTXT)


def graph_tensor_spec():
    """The `tfgnn.GraphTensorSpec` every `graphs_to_tensor` result conforms to.

    Relaxed to any number of components, nodes and edges, so it fits batches.
    """
    import tensorflow_gnn as tfgnn

    spec = tfgnn.create_graph_spec_from_schema_pb(graph_schema())
    return spec.relax(num_components=True, num_nodes=True, num_edges=True)
