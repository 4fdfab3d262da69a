"""The embedded demo behind `make demo` / `ghnq-tf demo` (no download).

Takes architectures from the `test` split of the search space (never used
for training), describes them as graphs, packs them into one GraphTensor and
loads the embedded `digits` data they would be evaluated on.
"""

from __future__ import annotations

import time

from ghnq_tf._keras import keras


def _table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def run_demo(*, num_archs: int = 3) -> dict[str, object]:
    """Runs the demo and prints what it did; returns the figures it printed."""
    import ghnq_tf as gq

    start = time.perf_counter()
    info = gq.data.info("digits")
    train = gq.data.load("digits", "train", batch_size=64)
    test = gq.data.load("digits", "test", batch_size=128)
    images, labels = next(iter(test))
    print(
        f"data: embedded digits, {info['splits']['train']} train / "
        f"{info['splits']['test']} test images shaped {info['image_shape']}, "
        f"{info['num_classes']} classes (batch {tuple(images.shape)})"
    )
    specs = gq.search_space.split("test", num_archs)
    rows, graphs = [], []
    for index, spec in enumerate(specs):
        model = gq.search_space.build(spec, input_shape=info["image_shape"], num_classes=10)
        graph = gq.graph_from_keras(model)
        graphs.append(graph)
        logits = model(images, training=False)
        accuracy = float(keras.metrics.sparse_categorical_accuracy(labels, logits).numpy().mean())
        rows.append(
            [
                f"test[{index}]",
                spec["num_cells"],
                spec["width"],
                "yes" if spec["bn"] else "no",
                f"{model.count_params():,}",
                graph.num_nodes,
                len(graph.edges),
                f"{accuracy:.1%}",
            ]
        )
    gt = gq.graphs_to_tensor(graphs, bits=4)
    print(f"\n{num_archs} unseen architectures from the search space's `test` split:")
    print(
        _table(
            ["arch", "cells", "width", "BN", "params", "nodes", "edges", "random-init acc"],
            rows,
        )
    )
    print(
        f"\none GraphTensor for all of them: {int(gt.node_sets['ops'].total_size)} op nodes, "
        f"{int(gt.node_sets['params'].total_size)} parameter tensors, "
        f"{int(gt.edge_sets['virtual'].total_size)} virtual edges"
    )
    del train
    elapsed = time.perf_counter() - start
    print(f"done in {elapsed:.1f} s")
    return {"rows": rows, "seconds": elapsed}
