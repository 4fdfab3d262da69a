"""Benchmark: Keras model → ArchGraph → GraphTensor conversion time.

Measures ResNet50 (32×32) conversion, and packing 100 search-space models into
one GraphTensor. Run: `.venv/bin/python benchmarks/graph_conversion.py`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras  # noqa: E402
from ghnq_tf.graph import to_tensor  # noqa: E402


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    resnet = keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10)
    t_graph, graph = _timed(lambda: gq.graph_from_keras(resnet), 5)

    def pack_resnet():
        to_tensor._graph_arrays.cache_clear()
        return gq.graphs_to_tensor(graph)

    t_tensor, _ = _timed(pack_resnet, 5)
    print(
        f"ResNet50: graph_from_keras {t_graph * 1e3:.1f} ms ({graph.num_nodes} nodes), "
        f"graphs_to_tensor {t_tensor * 1e3:.1f} ms (uncached)"
    )

    specs = gq.search_space.split("test")[:100]
    start = time.perf_counter()
    models = [gq.search_space.build(s) for s in specs]
    t_build = time.perf_counter() - start
    start = time.perf_counter()
    graphs = [gq.graph_from_keras(m) for m in models]
    t_graphs = time.perf_counter() - start
    to_tensor._graph_arrays.cache_clear()
    start = time.perf_counter()
    gt = gq.graphs_to_tensor(graphs, bits=4)
    t_batch_cold = time.perf_counter() - start
    t_batch_warm, _ = _timed(lambda: gq.graphs_to_tensor(graphs, bits=4), 5)
    nodes = int(gt.node_sets["ops"].total_size)
    print(
        f"100 test-split models: build {t_build:.1f} s, graph_from_keras {t_graphs:.2f} s "
        f"({t_graphs * 10:.1f} ms/model), one GraphTensor {t_batch_cold:.2f} s cold / "
        f"{t_batch_warm * 1e3:.0f} ms cached; {nodes} nodes, "
        f"{int(gt.edge_sets['virtual'].total_size)} virtual edges"
    )
    save(
        "graph_conversion",
        {
            "resnet50_graph_from_keras_ms": round(t_graph * 1e3, 2),
            "resnet50_graphs_to_tensor_ms": round(t_tensor * 1e3, 2),
            "resnet50_nodes": graph.num_nodes,
            "batch100_build_models_s": round(t_build, 2),
            "batch100_graph_from_keras_s": round(t_graphs, 3),
            "batch100_graphs_to_tensor_cold_s": round(t_batch_cold, 3),
            "batch100_graphs_to_tensor_cached_ms": round(t_batch_warm * 1e3, 1),
            "batch100_total_nodes": nodes,
        },
    )


if __name__ == "__main__":
    main()
