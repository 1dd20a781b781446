"""One training step per network: a network alone against K members trained together, by each way
an ensemble can run (stacked layers, grouped layers, vmap).

This is what decides how ``--ensemble`` runs an architecture on a device (trainer/ensemble.py,
``grouped_here``); the whole training path, with recording, is timed by ensemble_speedup.py and
gpu_throughput.py.

    python benchmarks/ensemble_step.py                    # CUDA if present (K=8, batch 128, 3x32x32)
    python benchmarks/ensemble_step.py --device cpu       # K=4, batch 32, 3x8x8: cnn, st-vgg, resnet18
    python benchmarks/ensemble_step.py --archs vgg,densenet --k 16

Each side takes the best of ``--repeats`` timings of ``--steps`` steps (after warm-up), sides
interleaved. The last line gives, per architecture and way, the networks' training throughput
together over alone (above 1: the ensemble trains more networks per second).
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=None, help="default: st-vgg,resnet18 (CPU: cnn,st-vgg,resnet18)")
    ap.add_argument("--k", type=int, default=None, help="members together (default: 8; CPU: 4)")
    ap.add_argument("--batch", type=int, default=None, help="examples per step (default: 128; CPU: 32)")
    ap.add_argument("--side", type=int, default=None, help="image side, 3 channels (default: 32; CPU: 8)")
    ap.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch
    import torch.nn.functional as F
    from orderlab.trainer import ensemble as ens_mod
    from orderlab.trainer.ensemble import Ensemble, build_members
    from orderlab.trainer.models import get_arch
    from orderlab.trainer.recorder import autocast_for

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    # CIFAR-10's shape on GPUs; on 2 CPU cores a size that times in about a minute
    for key, on_gpu, on_cpu in (("archs", "st-vgg,resnet18", "cnn,st-vgg,resnet18"), ("k", 8, 4), ("batch", 128, 32),
                                ("side", 32, 8)):
        if getattr(args, key) is None:
            setattr(args, key, on_gpu if cuda else on_cpu)
    if not cuda:
        torch.set_num_threads(min(2, torch.get_num_threads()))
    name = torch.cuda.get_device_name(dev) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    shape = (3, args.side, args.side)
    k, bsz = args.k, args.batch
    print(f"{name}, torch {torch.__version__}, K={k}, batch {bsz}, {shape}, "
          f"{'bf16 autocast' if cuda else 'float32'}", flush=True)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    class _Spec:       # what build_members needs of an architecture and a dataset
        pass

    def timed(step) -> float:
        for _ in range(3):
            step()
        sync()
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        return (time.perf_counter() - t) / args.steps

    results = []
    for arch in args.archs.split(","):
        spec = get_arch(arch)
        ds = _Spec()
        ds.input_shape, ds.n_classes, ds.vocab_size = shape, 10, None
        gen = torch.Generator(device=dev).manual_seed(0)
        x = torch.randn(k, bsz, *shape, device=dev, generator=gen)
        y = torch.randint(0, 10, (k, bsz), device=dev, generator=gen)

        solo = build_members(spec, ds, [0])[0].to(dev)
        if cuda:
            solo.to(memory_format=torch.channels_last)
        solo_opt = torch.optim.SGD(solo.parameters(), lr=0.01, momentum=0.9)
        xs = x[0].contiguous(memory_format=torch.channels_last) if cuda else x[0]

        def solo_step():
            with autocast_for(dev, cuda):
                loss = F.cross_entropy(solo(xs).float(), y[0])
            solo_opt.zero_grad(set_to_none=True)
            loss.backward()
            solo_opt.step()

        sides = {"alone": solo_step}
        for way in ("stacked", "grouped", "vmap"):
            ens = Ensemble(build_members(spec, ds, list(range(k))), dev)
            if way != "stacked":
                ens._stacked_for = lambda dims: None
            if way == "vmap":
                ens._grouped_for = lambda example: None
            else:
                ens_mod.grouped_here = lambda device, model: True
            opt = torch.optim.SGD(ens.parameters(), lr=0.01, momentum=0.9)

            def ens_step(ens=ens, opt=opt):
                with autocast_for(dev, cuda):
                    logits = ens.forward(x)
                    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
                opt.zero_grad(set_to_none=True)
                loss.view(k, bsz).mean(1).sum().backward()
                opt.step()
            try:
                ens_step()
            except Exception as e:  # noqa: BLE001 - a way that cannot run this architecture
                print(f"{arch}: {way}: cannot run ({type(e).__name__}: {str(e).splitlines()[0][:120]})", flush=True)
                continue
            if ens.implementation != way:
                print(f"{arch}: {way}: no plan for it", flush=True)
                continue
            sides[way] = ens_step
        best = {s: float("inf") for s in sides}
        for _ in range(args.repeats):
            for s, step in sides.items():
                best[s] = min(best[s], timed(step))
        alone = best.pop("alone")
        line = [f"alone {alone * 1e3:.1f} ms/step"]
        for way, t in best.items():
            line.append(f"{way} {t * 1e3:.1f} ms/step for {k} ({t / k * 1e3:.2f} per network)")
            results.append(f"{arch} {way} {alone * k / t:.2f}x")
        print(f"{arch}: " + ", ".join(line), flush=True)
        del sides
        if cuda:
            torch.cuda.empty_cache()
    print(f"networks per second, K={k} together / alone ({name}): " + "; ".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
