#!/usr/bin/env python3
"""Times torch.optim.AdamW(fused=True) on the tensor sizes fusedopt's bench uses, on the same GPU.

Prints one JSON object per configuration: {"config", "params", "tensors", "step_ms_median"}.
Usage: torch_adamw_bench.py [--params N] [--gpt2-small] [--steps N]
"""
import argparse
import json
import statistics

import torch


def gpt2_small_shapes():
    d, v, ctx, layers = 768, 50257, 1024, 12
    shapes = [(v, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]
    shapes += [(d,), (d,)]
    return shapes


def run(shapes, steps, warmup=5):
    params = [torch.randn(s, device="cuda", dtype=torch.float32) * 0.02 for s in shapes]
    for p in params:
        p.requires_grad_(True)
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, fused=True)
    times = []
    for i in range(warmup + steps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        opt.step()
        end.record()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(end))
    return statistics.median(times), sum(p.numel() for p in params), len(params)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=0)
    ap.add_argument("--gpt2-small", action="store_true")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    if a.params:
        ms, n, t = run([(a.params,)], a.steps)
        print(json.dumps({"config": "params", "params": n, "tensors": t, "step_ms_median": ms}))
    if a.gpt2_small:
        ms, n, t = run(gpt2_small_shapes(), a.steps)
        print(json.dumps({"config": "gpt2-small", "params": n, "tensors": t, "step_ms_median": ms}))


if __name__ == "__main__":
    main()
