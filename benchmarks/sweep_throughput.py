"""Sweep throughput: 8 small networks with 2 local worker processes vs 1.

Each side is a whole `orderlab sweep` (the `run_sweep` API with the local executor) into its own
study of one SQLite store in a temporary folder, worker start-up included. A worker gets
cores // workers torch threads.

    python benchmarks/sweep_throughput.py                     # mlp on digits, 8 networks, 1 vs 2 workers
    python benchmarks/sweep_throughput.py --networks 16 --workers 4

The last line gives the ratio (networks/s with N workers over networks/s with 1); target >= 1.6
with 2 workers on 2 cores.
"""
from __future__ import annotations

import argparse
import os
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
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from orderlab.store import Store
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.sweep import SweepOptions, run_sweep

    tmp = tempfile.mkdtemp(prefix="orderlab-sweep-")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
    Store(uri).client  # the schema exists before either side is timed

    def sweep(workers: int) -> float:
        cfg = TrainConfig(study=f"w{workers}", archs=[args.arch], seeds=list(range(args.networks)),
                          dataset=args.dataset, train_subset=args.train_subset, test_subset=args.test_subset,
                          epochs=args.epochs, record_every=args.record_every, device="cpu",
                          tracking_uri=uri, quiet=True)
        t = time.perf_counter()
        res = run_sweep(cfg, SweepOptions(executor="local", workers=workers))
        dt = time.perf_counter() - t
        assert not res.failed and len(res.outcomes) == args.networks, res
        print(f"{workers} worker(s): {args.networks} networks in {dt:.1f}s "
              f"({args.networks / dt * 60:.1f} networks/min)", flush=True)
        return dt

    print(f"{args.networks} x {args.arch} on {args.dataset}, {args.epochs:g} epochs, {os.cpu_count()} cores")
    t1 = sweep(1)
    tn = sweep(args.workers)
    print(f"sweep throughput: {args.workers} workers / 1 worker = {t1 / tn:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
