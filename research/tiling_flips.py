"""Research: how much of `gq.predict(tiling_noise=β)` a 4-bit weight quantizer keeps.

For one `test` network, the GHN's prediction (rescaled as `gq.predict` does)
gets `break_tiling` noise at several β (seed 0); for every tiled hidden
kernel, each copy entry is rounded to 4 bits (symmetric, per output channel,
levels -7..7) before and after the noise. Printed: the spread of the tiled
kernels' channel correlations and, per β, the share of copy entries that
moved to another 4-bit level (see docs/finetuning.md).

Run: `.venv/bin/python research/tiling_flips.py --ghn cifar10 --index 365`
"""

from __future__ import annotations

import argparse

import numpy as np

BETAS = (1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0)


def quantize4(kernel) -> np.ndarray:
    """Symmetric per-output-channel 4-bit levels of `kernel`."""
    kernel = np.asarray(kernel, np.float64)
    scale = np.max(np.abs(kernel.reshape(-1, kernel.shape[-1])), axis=0) / 7
    return np.round(kernel / np.where(scale > 0, scale, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10")
    parser.add_argument("--index", type=int, default=365, help="`test` network")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf.hypernet.init_scale import match_init_scale
    from ghnq_tf.hypernet.tiling import break_tiling, channel_correlation_spread, copies_mask

    ghn = gq.GHN.from_pretrained(args.ghn)
    spec = gq.search_space.split("test")[args.index]
    model = gq.search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
    graph = gq.graph_from_keras(model)
    raw = match_init_scale(model, graph, ghn.predict_params(graph, bits=4)[0])
    tiled = [
        i
        for i, ref in enumerate(graph.params)
        if ref.attr.endswith("kernel")
        and graph.param_kind(ref) != "classifier"
        and copies_mask(ref.shape, ghn.channels).any()
    ]
    spreads = [channel_correlation_spread(np.asarray(raw[i])) for i in tiled]
    print(
        f"{len(tiled)} tiled kernels; channel-correlation spread median "
        f"{np.median(spreads):.3f} (min {min(spreads):.3f}, max {max(spreads):.3f})"
    )
    for beta in BETAS:
        out = break_tiling(graph, raw, channels=ghn.channels, beta=beta, seed=0)
        moved = total = 0
        for i in tiled:
            mask = copies_mask(graph.params[i].shape, ghn.channels)
            moved += int((quantize4(raw[i])[mask] != quantize4(out[i])[mask]).sum())
            total += int(mask.sum())
        print(f"beta={beta:g}: {moved / total:.2%} of {total} copy entries at another 4-bit level")


if __name__ == "__main__":
    main()
