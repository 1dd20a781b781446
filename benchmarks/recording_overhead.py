"""The cost of recording: orderlab's training against a bare PyTorch loop.

Three ways to train the same network (same initialisation, data order, augmentation, optimiser
and schedule, all on the device):

* **orderlab**: `train_one` inside a `NetworkRun` — at every checkpoint it evaluates the train
  and test splits, moves the results to the host once, appends them to the bit-packed record,
  publishes the record, logs metrics and saves the resumable training state in an MLflow store
  (SQLite in a temporary folder).
* **bare**: a plain loop doing the same training steps and the same evaluation passes (eval-mode
  forward of both splits, argmax and probability of the true class, one copy to the host per
  checkpoint) and nothing else.
* **no eval**: the same training steps with no evaluation at all.

Each variant runs ``--reps`` times, interleaved; the best time of each counts.

    python benchmarks/recording_overhead.py                                  # mlp on fashion-mnist, CPU
    python benchmarks/recording_overhead.py --arch st-vgg --dataset cifar-shaped --device cuda

The last line gives orderlab / bare (target <= 1.10) and orderlab / no-eval.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mlp")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--train-subset", type=int, default=None, help="default: the whole split")
    ap.add_argument("--test-subset", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--record-every", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, str(Path(__file__).parent))
    from gpu_throughput import register_cifar_shaped
    from orderlab.store import Store
    from orderlab.trainer.api import TrainConfig, network_params, resolve_hparams, train_one
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.ensemble import hyper
    from orderlab.trainer.loop import (DeviceData, augment_batch, checkpoint_steps, epoch_permutation,
                                       make_optimizer, resolve_device, steps_per_epoch, training_plan)
    from orderlab.trainer.models import get_arch
    from orderlab.trainer.recorder import autocast_for
    from orderlab.trainer.run import NetworkRun, prepare_study

    register_cifar_shaped()
    sub = {"train_subset": args.train_subset, "test_subset": args.test_subset}
    ds = load_dataset(args.dataset, **sub)
    device = resolve_device(args.device)
    data = DeviceData(ds, device)
    spec = get_arch(args.arch)
    cfg = TrainConfig(study="overhead", archs=[args.arch], seeds=[args.seed], dataset=args.dataset,
                      epochs=args.epochs, record_every=args.record_every, device=args.device, **sub)
    hp = resolve_hparams(spec, cfg, ds.augment_default)
    h = hyper(hp)
    tmp = tempfile.mkdtemp(prefix="orderlab-overhead-")
    store = Store(f"sqlite:///{tmp}/mlruns/mlflow.db")
    ctx = prepare_study(store, "overhead", ds, ("train", "test"))
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def orderlab_run() -> float:
        sync()
        t = time.perf_counter()
        with NetworkRun(ctx, args.arch, args.seed, network_params(cfg, args.arch, args.seed, hp, ds),
                        h.epochs) as run:
            train_one(run, spec, args.arch, args.seed, hp, ds, data, ("train", "test"))
        sync()
        return time.perf_counter() - t

    def bare_run(evaluate: bool) -> float:
        sync()
        t = time.perf_counter()
        torch.manual_seed(args.seed)
        model = spec.build(ds.input_shape, ds.n_classes).to(device)
        channels_last = cuda and ds.kind == "image"
        if channels_last:
            model.to(memory_format=torch.channels_last)
        opt = make_optimizer(model, h)
        n = data.n_train
        spe, total, sched, ckpts = training_plan(opt, h, n)
        x, y = data.x["train"], data.y["train"]
        kept = []

        @torch.no_grad()
        def eval_all():
            model.eval()
            out = []
            with autocast_for(device, cuda):
                for s in ("train", "test"):
                    xs, ys = data.x[s], data.y[s]
                    pred = torch.empty(len(ys), dtype=torch.int64, device=device)
                    pt = torch.empty(len(ys), device=device)
                    for i in range(0, len(ys), 1024):
                        xb = xs[i:i + 1024]
                        if channels_last:
                            xb = xb.contiguous(memory_format=torch.channels_last)
                        logits = model(xb).float()
                        pred[i:i + 1024] = logits.argmax(1)
                        pt[i:i + 1024] = torch.softmax(logits, 1).gather(1, ys[i:i + 1024, None]).squeeze(1)
                    out += [(pred == ys).cpu(), pred.cpu(), pt.cpu()]
            model.train()
            kept.append(out)

        if evaluate:
            eval_all()
        step, epoch = 0, 0
        while step < total:
            perm = epoch_permutation(args.seed, epoch, n).to(device, non_blocking=True)
            for b in range(spe):
                if step >= total:
                    break
                idx = perm[b * h.batch_size:(b + 1) * h.batch_size]
                xb, yb = x[idx], y[idx]
                if h.augment:
                    xb = augment_batch(xb, args.seed, step, data.flip_ok)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast_for(device, cuda):
                    loss = F.cross_entropy(model(xb).float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if evaluate and step in ckpts:
                    eval_all()
            epoch += 1
        sync()
        return time.perf_counter() - t

    print(f"{args.arch} on {args.dataset} ({len(ds.y_train)} train / {len(ds.y_test)} test), device {device}, "
          f"{h.epochs:g} epochs, batch {h.batch_size}, recorded every {h.record_every:g} epoch(s) "
          f"({len(checkpoint_steps(steps_per_epoch(data.n_train, h.batch_size), h.epochs, h.record_every))} "
          f"checkpoints)", flush=True)
    bare_run(True)  # warm-up (kernels, allocator, autotuning)
    times: dict[str, list[float]] = {"orderlab": [], "bare": [], "no eval": []}
    for _ in range(args.reps):
        times["bare"].append(bare_run(True))
        times["orderlab"].append(orderlab_run())
        times["no eval"].append(bare_run(False))
    best = {k: min(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"{k:9s} best {best[k]:.2f}s  (runs: {', '.join(f'{t:.2f}' for t in v)})")
    print(f"recording overhead ({args.arch}, {device}): orderlab/bare {best['orderlab'] / best['bare']:.3f}x, "
          f"orderlab/no-eval {best['orderlab'] / best['no eval']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
