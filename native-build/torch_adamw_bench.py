#!/usr/bin/env python3
"""Times torch.optim.AdamW(fused=True) on the tensor sizes fusedopt's bench uses, on the same GPU.

Each figure comes from K back-to-back steps on one stream: the CUDA events recorded before and after them give
the kernel-side time per step, the host clock around them (up to a synchronize) the wall-clock time per step;
the copy-bandwidth reference (a device-to-device copy of the parameters' bytes) is timed the same way. The median
over R repetitions is printed, one JSON object per figure per line:
{"figure", "config", "params", "tensors", "k", "kernel_ms_per_step", "wall_ms_per_step"} and
{"figure": "torch_copy", ..., "gbps_kernel", "gbps_wall"}.
With --training-loop a step is also what fusedopt's bench --training-loop times: the gradients held scaled by a
torch.amp.GradScaler, unscale_, clip_grad_norm_(max_norm=1), scaler.step and scaler.update (figure
"torch_adamw_fused_loop_step"). unscale_ divides the gradients in place and nothing scales them again between
steps, so they shrink towards zero; the steps are memory-bound and their time does not depend on the values.
With --dtype bf16 the parameters and gradients are bfloat16 (torch's fused AdamW then keeps its states in
bfloat16 too and computes in float32: fusedopt's low-precision regime, 14 B/param); the figure names gain _bf16.
Usage: torch_adamw_bench.py [--params N] [--gpt2-small] [--training-loop] [--dtype fp32|bf16] [--k K] [--reps R]
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


def timed(fn, k, reps):
    """(kernel ms, wall ms) per call of fn: medians over reps of k back-to-back calls between two events."""
    fn()
    torch.cuda.synchronize()
    kernel, wall = [], []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        for _ in range(k):
            fn()
        end.record()
        end.synchronize()
        wall.append((time.perf_counter() - t0) * 1e3 / k)
        kernel.append(start.elapsed_time(end) / k)
    return statistics.median(kernel), statistics.median(wall)


def run(config, shapes, k, reps, loop=False, dtype="fp32"):
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    suffix = "_bf16" if dtype == "bf16" else ""
    params = [(torch.randn(s, device="cuda", dtype=torch.float32) * 0.02).to(torch_dtype) for s in shapes]
    for p in params:
        p.requires_grad_(True)
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2, fused=True)
    n = sum(p.numel() for p in params)
    kernel, wall = timed(opt.step, k, reps)
    print(json.dumps({"figure": "torch_adamw_fused_step" + suffix, "config": config, "params": n, "tensors": len(params),
                      "k": k, "kernel_ms_per_step": kernel, "wall_ms_per_step": wall}), flush=True)
    if loop and dtype == "fp32":
        scaler = torch.amp.GradScaler("cuda")
        scale = scaler.get_scale()
        for p in params:
            p.grad.mul_(scale)

        def loop_step():
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(opt)
            scaler.update()

        kernel, wall = timed(loop_step, k, reps)
        print(json.dumps({"figure": "torch_adamw_fused_loop_step", "config": config, "params": n,
                          "tensors": len(params), "k": k, "kernel_ms_per_step": kernel, "wall_ms_per_step": wall}),
              flush=True)
    if dtype != "fp32":
        return
    src = torch.empty(n, device="cuda", dtype=torch.float32)
    dst = torch.empty_like(src)
    kernel, wall = timed(lambda: dst.copy_(src), k, reps)
    moved = 2 * 4 * n  # read and write
    print(json.dumps({"figure": "torch_copy", "config": config, "params": n, "k": k,
                      "kernel_ms_per_copy": kernel, "wall_ms_per_copy": wall,
                      "gbps_kernel": moved / (kernel / 1e3) / 1e9, "gbps_wall": moved / (wall / 1e3) / 1e9}),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=0)
    ap.add_argument("--gpt2-small", action="store_true")
    ap.add_argument("--training-loop", action="store_true", help="also time GradScaler + clip_grad_norm_ steps")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--k", type=int, default=20, help="back-to-back steps between the two events")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if a.params:
        run("params", [(a.params,)], a.k, a.reps, a.training_loop, a.dtype)
    if a.gpt2_small:
        run("gpt2-small", gpt2_small_shapes(), a.k, a.reps, a.training_loop, a.dtype)


if __name__ == "__main__":
    main()
