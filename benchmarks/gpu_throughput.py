"""Networks per minute on CIFAR-10-shaped data, one at a time and as vectorised ensembles.

The data are synthetic tensors of CIFAR-10's shape (50,000 train / 10,000 test images, 3x32x32,
10 classes; registered here as the dataset ``cifar-shaped``): only the timing matters. Each
network trains ``--epochs`` epochs with its architecture's defaults (augmentation on, as for
CIFAR), recording train and test correctness every epoch, through orderlab's whole path
(MLflow store in a temporary folder, records, metrics, resumable state).

    python benchmarks/gpu_throughput.py                       # st-vgg and resnet18 on CUDA
    python benchmarks/gpu_throughput.py --archs st-vgg --solo 2 --k 16

The last line gives networks per minute for each architecture, alone and in ensembles.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def register_cifar_shaped(n_train: int = 50_000, n_test: int = 10_000) -> None:
    """``cifar-shaped``: seeded random images of CIFAR-10's shape, labels depending on them (so the
    networks learn something and a record is not constant), for timing."""
    from orderlab.trainer.data import DATASETS, Dataset, register
    if "cifar-shaped" in DATASETS:
        return

    @register("cifar-shaped", "synthetic tensors of CIFAR-10's shape (timing only)")
    def _load(opts) -> Dataset:
        rng = np.random.default_rng(opts.seed)
        protos = rng.standard_normal((10, 3, 32, 32)).astype(np.float32)

        def split(n):
            y = rng.integers(0, 10, n)
            x = (0.5 * protos[y] + rng.standard_normal((n, 3, 32, 32)).astype(np.float32))
            return x.astype(np.float32), y.astype(np.int64)
        x_train, y_train = split(n_train)
        x_test, y_test = split(n_test)
        return Dataset(name="cifar-shaped", kind="image", x_train=x_train, y_train=y_train, x_test=x_test,
                       y_test=y_test, n_classes=10, augment_default=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="st-vgg,resnet18")
    ap.add_argument("--solo", type=int, default=2, help="networks trained one at a time per architecture")
    ap.add_argument("--k", default="16,8", help="ensemble size per architecture (comma list, or one for all)")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--device", default=None, help="default: cuda (skipped when there is none)")
    ap.add_argument("--skip-ensemble", action="store_true", help="time networks one at a time only")
    ap.add_argument("--n-train", type=int, default=50_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import torch
    from orderlab.trainer.api import TrainConfig, train_study
    from _verify import check_study
    from orderlab.trainer.progress import MessageLog
    if args.device is None:
        if not torch.cuda.is_available():
            print("gpu_throughput: no CUDA GPU here, skipped (try it on the CPU with --device cpu --n-train 2000)")
            return 0
        args.device = "cuda"
    register_cifar_shaped(args.n_train, args.n_test)
    archs = args.archs.split(",")
    ks = [int(k) for k in args.k.split(",")]
    ks = (ks * len(archs))[:len(archs)] if len(ks) == 1 else ks
    tmp = tempfile.mkdtemp(prefix="orderlab-gpu-")
    uri = f"sqlite:///{tmp}/mlruns/mlflow.db"
    dev = torch.device(args.device)
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    stream = os.environ.get("ORDERLAB_STREAM_DATA") == "1"
    print(f"device {args.device} ({card}), torch {torch.__version__}, cifar-shaped {args.n_train}/{args.n_test}"
          f"{' streamed from host memory' if stream else ' on the device'}, "
          f"{args.epochs:g} epochs per network, recorded every epoch (train+test)", flush=True)

    def run(study, arch, seeds, k):
        cfg = TrainConfig(study=study, archs=[arch], seeds=seeds, dataset="cifar-shaped", epochs=args.epochs,
                          record_every=1.0, device=args.device, tracking_uri=uri, quiet=True, ensemble=k)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        msgs = MessageLog()
        train_study(cfg, msgs)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        return dt, check_study(uri, study, len(seeds), k, msgs)

    results = []
    for arch, k in zip(archs, ks):
        run(f"warm-{arch}", arch, [1000], 1)   # cudnn autotuning, imports, store and study creation
        t_solo, problem = run(f"solo-{arch}", arch, list(range(args.solo)), 1)
        if problem:
            print(f"{arch}: one at a time: {problem}", flush=True)
            results.append(f"{arch} failed")
            continue
        solo = args.solo / t_solo * 60
        print(f"{arch}: one at a time {solo:.1f} networks/min ({args.solo} in {t_solo:.1f}s)", flush=True)
        if args.skip_ensemble:
            results.append(f"{arch} {solo:.1f} alone")
            continue
        t_ens, problem = run(f"ens-{arch}", arch, list(range(100, 100 + k)), k)
        if problem:
            print(f"{arch}: --ensemble {k}: {problem}", flush=True)
            results.append(f"{arch} {solo:.1f} alone (no ensemble: see above)")
            continue
        ens = k / t_ens * 60
        print(f"{arch}: ensembles of {k} {ens:.1f} networks/min ({k} in {t_ens:.1f}s)", flush=True)
        if dev.type == "cuda":
            print(f"{arch}: peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.1f} GiB", flush=True)
            torch.cuda.reset_peak_memory_stats(dev)
        results.append(f"{arch} {solo:.1f} alone / {ens:.1f} with --ensemble {k}")
    print(f"networks/min ({card}, {args.epochs:g} epochs each): " + "; ".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
