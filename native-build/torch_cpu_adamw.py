#!/usr/bin/env python3
"""Times torch.optim.AdamW(fused=True) on the CPU, on the layouts of fusedopt's LayoutBenchmark.

Prints one JSON object per layout: {"layout", "params", "tensors", "threads", "step_ms_median"}. The same arena is
stepped over and over (as LayoutBenchmark does), after a warm-up, for at least --seconds or --min-steps steps.
Usage: torch_cpu_adamw.py [--layouts 1M,10000x100,16M,64M,gpt2-small] [--threads N] [--seconds S]
"""
import argparse
import json
import statistics
import time

import torch


def gpt2_small_shapes():
    d, v, ctx, layers = 768, 50257, 1024, 12
    shapes = [(v, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]
    shapes += [(d,), (d,)]
    return shapes


def shapes_of(layout):
    if layout == "gpt2-small":
        return gpt2_small_shapes()
    if "x" in layout:
        count, length = layout.split("x")
        return [(int(length),)] * int(count)
    if layout.endswith("M"):
        return [(int(layout[:-1]) << 20,)]
    raise SystemExit("unknown layout " + layout)


def run(shapes, seconds, min_steps, warmup_seconds=1.0):
    gen = torch.Generator().manual_seed(0)
    params = [(torch.rand(s, generator=gen) - 0.5) * 0.1 + 0.05 for s in shapes]
    for p in params:
        p.requires_grad_(True)
        p.grad = (torch.rand(p.shape, generator=gen) - 0.5) * 1e-2
    # PyTorch's defaults but weight decay 1e-2, as fusedopt's AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8.
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, fused=True)
    end = time.perf_counter() + warmup_seconds
    while time.perf_counter() < end:
        opt.step()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < min_steps:
        t0 = time.perf_counter()
        opt.step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), sum(p.numel() for p in params), len(params)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layouts", default="1M")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps torch's default")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--min-steps", type=int, default=5)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    for layout in a.layouts.split(","):
        ms, n, t = run(shapes_of(layout), a.seconds, a.min_steps)
        print(json.dumps({"layout": layout, "params": n, "tensors": t, "threads": torch.get_num_threads(),
                          "step_ms_median": ms}), flush=True)


if __name__ == "__main__":
    main()
