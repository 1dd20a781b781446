"""Analysis at scale: orderlab's packed analysis against a straightforward dense-boolean NumPy one.

Builds a synthetic study (networks x checkpoints x examples, several architectures) directly in
bit-packed form, then computes the same numbers both ways and checks that they agree:
accuracy, TPA / independent TPA / Jaccard per architecture and across all networks over every
checkpoint, the network agreement matrix and the architecture agreement matrix at the last
checkpoint, correct-count histograms with their independence histograms and bimodality at three
checkpoints, accessibility and learning order, learned-at and forgetting events of every network
and example, and within/across-architecture order correlations (Spearman and first-20% overlap).

The dense implementation starts by unpacking the study (what you do with plain boolean arrays).
Times are measured without tracing; peak memory is measured in a second run under tracemalloc
(NumPy reports its buffers to it). The Stack itself exists before both runs and counts for
neither.

    python benchmarks/analysis_scale.py            # 48 networks x 100 checkpoints x 20,000 examples
    python benchmarks/analysis_scale.py --full     # 100 x 200 x 50,000 (the issue's laptop study;
                                                   # the dense side then needs ~4 GB and minutes)

The last line gives the ratios orderlab / dense (below 1: orderlab is faster / smaller). Exit code
1 when the results disagree or orderlab does not win on both.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

import numpy as np

from orderlab.analysis import dense as D
from orderlab.analysis import metrics as M
from orderlab.analysis.stack import Stack


def build_stack(n_networks: int, n_checkpoints: int, n_examples: int, n_archs: int, seed: int = 0) -> Stack:
    """A synthetic study made packed network by network (never dense in full)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=n_examples).astype(np.float32)
    difficulty = [(0.7 * base + 0.71 * rng.normal(size=n_examples)).astype(np.float32) for _ in range(n_archs)]
    progress = np.linspace(-2.5, 2.0, n_checkpoints, dtype=np.float32)
    arch_of = np.arange(n_networks) % n_archs
    bits = np.empty((n_networks, n_checkpoints, (n_examples + 7) // 8), np.uint8)
    for j in range(n_networks):
        g = arch_of[j]
        skill = progress + np.float32(0.3 * g + 0.1 * rng.normal())
        noise = rng.standard_normal((n_checkpoints, n_examples), dtype=np.float32)
        noise *= 0.6
        noise += skill[:, None]
        noise -= difficulty[g][None, :]
        correct = noise > 0
        correct[0] = rng.random(n_examples) < 0.1
        bits[j] = np.packbits(correct, axis=-1)
    archs = np.array([f"arch{g}" for g in arch_of])
    return Stack(split="test", bits=bits, n_examples=n_examples,
                 epoch=np.linspace(0, 10, n_checkpoints), step=np.arange(n_checkpoints, dtype=np.int64),
                 arch=archs, seed=np.arange(n_networks, dtype=np.int64),
                 run_id=np.array([f"run{j:04d}" for j in range(n_networks)]),
                 example_id=np.arange(n_examples, dtype=np.int64),
                 label=rng.integers(0, 10, n_examples).astype(np.int64), fingerprint="bench")


def _three(n_c: int) -> list[int]:
    return sorted({max(0, n_c // 10), n_c // 2, n_c - 1})


def analyse_packed(stack: Stack, plans) -> dict:
    out: dict = {"acc": M.accuracy(stack)}
    for a in stack.archs + ["*"]:
        idx = None if a == "*" else stack.arch_index(a)
        out[f"tpa/{a}"] = M.tpa(stack, None, idx)
        out[f"ind/{a}"] = M.tpa_independent(stack, None, idx)
        out[f"jac/{a}"] = M.jaccard(stack, None, idx)
    last = stack.n_checkpoints - 1
    out["pairwise"] = M.pairwise_agreement(stack, last)
    out["arch_agreement"] = M.architecture_agreement(stack, last)[1]
    for e in _three(stack.n_checkpoints):
        b = M.bimodality(stack, e)
        out[f"hist/{e}"], out[f"exp/{e}"] = b["observed"], b["expected"]
        out[f"tv/{e}"], out[f"sarle/{e}"] = b["tv"], b["sarle"]
    acc = M.accessibility(stack)
    out["access"] = acc
    out["order_access"] = acc[M.learning_order(stack)]
    out["learned_at"] = M.learned_at(stack)
    out["forgetting"] = M.forgetting_events(stack)
    oc = M.order_correlation(stack, 0.2, n_splits=len(plans))
    out["spearman"], out["overlap"] = oc["spearman"], oc["overlap"]
    return out


def analyse_dense(stack: Stack, plans) -> dict:
    c = stack.correct()                                  # bool [n, C, N]
    out: dict = {"acc": D.accuracy(c)}
    for a in stack.archs + ["*"]:
        sub = c if a == "*" else c[stack.arch == a]
        out[f"tpa/{a}"] = D.tpa(sub)
        out[f"ind/{a}"] = D.tpa_independent(sub)
        out[f"jac/{a}"] = D.jaccard(sub)
        del sub
    last = stack.n_checkpoints - 1
    out["pairwise"] = D.pairwise_tpa(c[:, last])
    out["arch_agreement"] = D.architecture_agreement(out["pairwise"], stack.arch, stack.archs)
    for e in _three(stack.n_checkpoints):
        obs, exp = D.correct_count_histogram(c[:, e])
        b = D.bimodality(c[:, e])
        out[f"hist/{e}"], out[f"exp/{e}"], out[f"tv/{e}"], out[f"sarle/{e}"] = obs, exp, b["tv"], b["sarle"]
    acc = D.accessibility(c, stack.epoch)
    out["access"] = acc
    out["order_access"] = acc[np.argsort(-acc, kind="stable")]
    out["learned_at"] = D.learned_at(c, stack.epoch)
    out["forgetting"] = D.forgetting_events(c)
    oc = D.order_correlation(c, stack.epoch, stack.archs, plans, 0.2)
    out["spearman"], out["overlap"] = oc["spearman"], oc["overlap"]
    return out


def compare(a: dict, b: dict) -> list[str]:
    bad = []
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True):
            bad.append(k)
    return bad


def measure(fn, stack, plans, trace: bool) -> tuple[float, int, dict]:
    gc.collect()
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    t0 = time.perf_counter()
    res = fn(stack, plans)
    dt = time.perf_counter() - t0
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return dt, peak, res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=48)
    p.add_argument("--checkpoints", type=int, default=100)
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--archs", type=int, default=3)
    p.add_argument("--full", action="store_true", help="100 networks x 200 checkpoints x 50,000 examples")
    args = p.parse_args(argv)
    if args.full:
        args.networks, args.checkpoints, args.examples = 100, 200, 50_000
    size = f"{args.networks}x{args.checkpoints}x{args.examples}"
    t0 = time.perf_counter()
    stack = build_stack(args.networks, args.checkpoints, args.examples, args.archs)
    print(f"built {size} ({args.archs} architectures) in {time.perf_counter() - t0:.1f} s: "
          f"packed {stack.bits.nbytes / 2**20:.0f} MB, dense bool would be "
          f"{stack.bits.nbytes * 8 / 2**20:.0f} MB", flush=True)
    plans = M.half_splits(stack, 10, 0)

    t_pk, _, res_pk = measure(analyse_packed, stack, plans, trace=False)
    print(f"orderlab (packed): {t_pk:.2f} s", flush=True)
    t_dn, _, res_dn = measure(analyse_dense, stack, plans, trace=False)
    print(f"dense NumPy:       {t_dn:.2f} s", flush=True)
    bad = compare(res_pk, res_dn)
    if bad:
        print(f"MISMATCH between orderlab and the dense implementation: {', '.join(bad)}")
    else:
        print(f"results agree ({len(res_pk)} quantities)")
    del res_pk, res_dn
    _, m_pk, _ = measure(analyse_packed, stack, plans, trace=True)
    print(f"orderlab peak memory: {m_pk / 2**20:.1f} MB", flush=True)
    _, m_dn, _ = measure(analyse_dense, stack, plans, trace=True)
    print(f"dense peak memory:    {m_dn / 2**20:.1f} MB", flush=True)

    t0 = time.perf_counter()
    M.group_curves(stack)
    M.order_correlation(stack, intervals=True)
    print(f"(orderlab only) jackknife intervals for TPA curves and order correlations: "
          f"{time.perf_counter() - t0:.2f} s")
    tr, mr = t_pk / t_dn, m_pk / m_dn
    ok = not bad and tr < 1 and mr < 1
    print(f"analysis {size}: orderlab/dense time ratio {tr:.3f} ({t_pk:.2f} s vs {t_dn:.2f} s), "
          f"peak memory ratio {mr:.3f} ({m_pk / 2**20:.0f} MB vs {m_dn / 2**20:.0f} MB); "
          f"{'agree' if not bad else 'DISAGREE'}; lower is better")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
