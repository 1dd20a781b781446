"""Networks trained per second: K seeds as one vectorised ensemble (`--ensemble K`) vs one at a time.

Both sides run orderlab's whole training path (`train_study`: training, on-device recording at
every checkpoint, records, metrics and resumable state in an MLflow store in a temporary folder),
with the architectures' default hyperparameters and training length (10 epochs, recorded every
epoch: what `orderlab train --arch mlp --seeds 0-15 --ensemble 16` does on digits). A one-network
warm-up (imports, store schema, study creation) runs first and counts for neither side; the sides
then alternate ``--reps`` times and the best time of each counts (a shared machine's noise only
ever slows a run down).

    python benchmarks/ensemble_speedup.py                      # mlp and cnn on digits, K=16, CPU
    python benchmarks/ensemble_speedup.py --device cuda --epochs 5 # shorter training: per-network
                                                                   # store costs weigh more

The last line gives the speedups (ensemble networks/s over one-at-a-time networks/s).
Targets on 2 CPU cores: >= 2.5x for mlp, >= 1.3x for cnn.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="mlp,cnn")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--k", type=int, default=16, help="networks per ensemble (and networks per side)")
    ap.add_argument("--epochs", type=float, default=None, help="default: the architecture's")
    ap.add_argument("--record-every", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions; the best time of each side counts")
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from orderlab.trainer.api import TrainConfig, train_study
    from _verify import check_study
    from orderlab.trainer.progress import MessageLog

    tmp = tempfile.mkdtemp(prefix="orderlab-bench-")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"

    def run(study: str, arch: str, seeds: list[int], k: int) -> float:
        cfg = TrainConfig(study=study, archs=[arch], seeds=seeds, dataset=args.dataset, epochs=args.epochs,
                          record_every=args.record_every, device=args.device, tracking_uri=uri, quiet=True,
                          ensemble=k)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        msgs = MessageLog()
        train_study(cfg, msgs)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        problem = check_study(uri, study, len(seeds), k, msgs)
        if problem:
            sys.exit(f"ensemble_speedup: {arch} ({study}): {problem}")
        return dt

    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.dataset}, "
          f"{'default' if args.epochs is None else format(args.epochs, 'g')} epochs recorded every "
          f"{args.record_every:g}, K={args.k}")
    seeds = list(range(args.k))
    ratios = {}
    for arch in args.archs.split(","):
        run(f"warm-{arch}", arch, [1000, 1001], 2)
        t_solo = t_ens = float("inf")
        for rep in range(args.reps):
            t_solo = min(t_solo, run(f"solo-{arch}-{rep}", arch, seeds, 1))
            t_ens = min(t_ens, run(f"ens-{arch}-{rep}", arch, seeds, args.k))
        ratios[arch] = t_solo / t_ens
        print(f"{arch}: one at a time {args.k / t_solo:.2f} networks/s ({t_solo:.1f}s), ensemble of {args.k} "
              f"{args.k / t_ens:.2f} networks/s ({t_ens:.1f}s)", flush=True)
    print(f"ensemble speedup (K={args.k}, {args.device}): "
          + ", ".join(f"{a} {r:.2f}x" for a, r in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
