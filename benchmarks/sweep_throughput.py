"""Sweep throughput: 8 small networks with 2 local worker processes vs 1.

Each side is a whole `orderlab sweep` (the `run_sweep` API with the local executor) into its own
study of one SQLite store in a temporary folder, worker start-up included. A worker gets
cores // workers torch threads. The sides alternate ``--reps`` times and each side's best time
counts (a shared machine's noise only ever slows a run down); each starts once the previous
side's workers have exited (a sweep returns while its workers' interpreters are still closing,
which would otherwise slow the next side's start).

    python benchmarks/sweep_throughput.py                     # mlp on digits, 8 networks, 1 vs 2 workers
    python benchmarks/sweep_throughput.py --networks 16 --workers 4
    python benchmarks/sweep_throughput.py --device cuda --arch st-vgg --synthetic-images 20000 --epochs 2 \
        --workers 4 --gpus-per-run 0.25          # four runs share one GPU

The last line gives the ratio (networks/s with N workers over networks/s with 1); target >= 1.6
with 2 workers on 2 cores. The line before gives the steady-state ratio from the networks' own
times, start-up excluded: the ceiling the whole-sweep ratio approaches as sweeps grow longer.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mlp")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--train-subset", type=int, default=None)
    ap.add_argument("--test-subset", type=int, default=None)
    ap.add_argument("--networks", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=60)
    ap.add_argument("--record-every", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpus-per-run", type=float, default=0.0, help="e.g. 0.25: the workers share one GPU")
    ap.add_argument("--reps", type=int, default=2, help="interleaved repetitions; the best time of each side counts")
    ap.add_argument("--synthetic-images", type=int, default=0,
                    help="train on N seeded random images of CIFAR-10's shape (written to an npz) instead of --dataset")
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from orderlab.store import Store
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.sweep import SweepOptions, run_sweep

    tmp = tempfile.mkdtemp(prefix="orderlab-sweep-")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
    Store(uri).client  # the schema exists before either side is timed
    if args.synthetic_images:
        import numpy as np
        rng = np.random.default_rng(0)
        n, m = args.synthetic_images, max(10, args.synthetic_images // 5)
        protos = rng.integers(0, 256, (10, 32, 32, 3))
        def split(k):
            y = rng.integers(0, 10, k)
            x = (protos[y] // 2 + rng.integers(0, 128, (k, 32, 32, 3))).astype(np.uint8)
            return x.transpose(0, 3, 1, 2), y
        (xtr, ytr), (xte, yte) = split(n), split(m)
        path = f"{tmp}/cifar-shaped.npz"
        np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
        args.dataset = f"npz:{path}"

    def sweep(workers: int, rep: int) -> tuple[float, float]:
        import multiprocessing
        deadline = time.monotonic() + 30
        while multiprocessing.active_children() and time.monotonic() < deadline:
            time.sleep(0.05)
        study = f"w{workers}-{rep}"
        cfg = TrainConfig(study=study, archs=[args.arch], seeds=list(range(args.networks)),
                          dataset=args.dataset, train_subset=args.train_subset, test_subset=args.test_subset,
                          epochs=args.epochs, record_every=args.record_every, device=args.device,
                          tracking_uri=uri, quiet=True)
        t0, t = time.time(), time.perf_counter()
        res = run_sweep(cfg, SweepOptions(executor="local", workers=workers, gpus_per_run=args.gpus_per_run))
        dt = time.perf_counter() - t
        assert not res.failed and len(res.outcomes) == args.networks, res
        runs = Store(uri).list_runs(study)
        first = min(r.start_time for r in runs) - t0
        last = t0 + dt - max(r.end_time for r in runs)
        per_net = statistics.median(r.end_time - r.start_time for r in runs)
        print(f"{workers} worker(s): {args.networks} networks in {dt:.1f}s "
              f"({args.networks / dt * 60:.1f} networks/min); first network started after {first:.1f}s, "
              f"the last ended {last:.1f}s before the sweep returned; median {per_net:.2f}s a network", flush=True)
        return dt, per_net

    print(f"{args.networks} x {args.arch} on {args.dataset}, {args.epochs:g} epochs, {os.cpu_count()} cores, "
          f"device {args.device}")
    t1 = d1 = tn = dn = float("inf")
    for rep in range(args.reps):
        a, b = sweep(1, rep)
        t1, d1 = min(t1, a), min(d1, b)
        a, b = sweep(args.workers, rep)
        tn, dn = min(tn, a), min(dn, b)
    # Start-up excluded, N workers of cores/N threads can at best beat one worker of all the cores'
    # threads by N x (time of a network with all threads / time with 1/N of them): the second
    # thread's speed-up of one network is what a second worker cannot add.
    print(f"steady state (per-network times, start-up excluded): {args.workers * d1 / dn:.2f}x")
    print(f"sweep throughput: {args.workers} workers / 1 worker = {t1 / tn:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
