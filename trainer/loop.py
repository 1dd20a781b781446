"""The torch training loop of one network, with the correctness recorder hooked at checkpoints.

The dataset lives on the device; batches are index permutations on the device (airbench style);
augmentation (random crop + flip) is a batched tensor op there too. The host synchronises once
per checkpoint (record + metrics) and never per batch.

Reproducibility: a network's seed fixes its initialisation (``torch.manual_seed`` before the build),
its data order (epoch ``e``'s permutation is drawn from a generator seeded by ``(seed, e)``), its
augmentation (a generator per step seeded by ``(seed, step)``) and its dropout (the global RNG,
saved in the training state). So a run resumed from a saved state continues exactly.
"""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from orderlab.trainer import optim
from orderlab.trainer.api import STREAM_ENV, stream_setting  # noqa: F401 - STREAM_ENV: tests set it through here
from orderlab.trainer.data import Dataset
from orderlab.trainer.recorder import autocast_for, evaluate_on_device, to_host
from orderlab.trainer.run import ctrl_c_after


@dataclass
class Hyper:
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: float
    schedule: str
    augment: bool
    record_every: float


class DeviceData:
    """Both splits of a dataset as tensors on the training device."""

    def __init__(self, ds: Dataset, device: torch.device):
        self.device = device
        self.kind = ds.kind
        self.flip_ok = ds.flip_ok
        dtype = torch.int64 if ds.kind == "text" else torch.float32
        self.x = {"train": torch.as_tensor(ds.x_train, dtype=dtype).to(device),
                  "test": torch.as_tensor(ds.x_test, dtype=dtype).to(device)}
        self.y = {"train": torch.as_tensor(ds.y_train, dtype=torch.int64).to(device),
                  "test": torch.as_tensor(ds.y_test, dtype=torch.int64).to(device)}

    streaming = False

    @property
    def n_train(self) -> int:
        return int(self.y["train"].shape[0])

    def batches(self, perm: torch.Tensor, first: int, n_batches: int, batch_size: int):
        """(x, y) of batches ``first..n_batches-1`` of the epoch's permutation, gathered on the device."""
        perm = perm.to(self.device, non_blocking=True)
        x, y = self.x["train"], self.y["train"]
        for b in range(first, n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            yield x[idx], y[idx]


class _HostSplit:
    """A split kept in host memory that reads like a device tensor for evaluation: a slice comes
    back on the device (copied from pinned memory, without waiting)."""

    def __init__(self, x: torch.Tensor, device: torch.device):
        self.host, self.device, self.shape = x, device, x.shape

    def __getitem__(self, key) -> torch.Tensor:
        part = self.host[key]
        if self.device.type == "cuda":
            part = part.pin_memory()
        return part.to(self.device, non_blocking=True)


class _Gather(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]


class StreamData(DeviceData):
    """A dataset too large for the device: both splits stay in host memory; DataLoader workers
    gather each batch (in the epoch's permuted order) into pinned memory, and it is copied to the
    device while earlier batches train. Evaluation streams the splits in slices the same way."""

    streaming = True

    def __init__(self, ds: Dataset, device: torch.device, workers: int | None = None):
        self.device = device
        self.kind = ds.kind
        self.flip_ok = ds.flip_ok
        dtype = torch.int64 if ds.kind == "text" else torch.float32
        self.host_x = {"train": torch.as_tensor(ds.x_train, dtype=dtype),
                       "test": torch.as_tensor(ds.x_test, dtype=dtype)}
        self.host_y = {"train": torch.as_tensor(ds.y_train, dtype=torch.int64),
                       "test": torch.as_tensor(ds.y_test, dtype=torch.int64)}
        self.x = {s: _HostSplit(v, device) for s, v in self.host_x.items()}
        self.y = {s: v.to(device) for s, v in self.host_y.items()}   # labels are small
        self.workers = min(8, os.cpu_count() or 1) if workers is None else workers

    def batches(self, perm: torch.Tensor, first: int, n_batches: int, batch_size: int):
        chunks = [perm[b * batch_size:(b + 1) * batch_size] for b in range(first, n_batches)]
        loader = torch.utils.data.DataLoader(
            _Gather(self.host_x["train"], self.host_y["train"]), sampler=chunks, batch_size=None,
            num_workers=self.workers, pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers else None)
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def make_device_data(ds: Dataset, device: torch.device) -> DeviceData:
    """The dataset on the device when it fits (at most half the free device memory), else streamed
    from host memory. ``ORDERLAB_STREAM_DATA=1`` forces streaming (also on the CPU), ``=0`` forbids it."""
    force = stream_setting()
    if force:
        return StreamData(ds, device)
    if force is None and device.type == "cuda":
        size = sum(a.nbytes for a in (ds.x_train, ds.x_test)) * (2 if ds.x_train.dtype.itemsize < 4 else 1)
        free, _ = torch.cuda.mem_get_info(device)
        if size > free / 2:
            return StreamData(ds, device)
    return DeviceData(ds, device)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def checkpoint_steps(spe: int, epochs: float, record_every: float) -> list[int]:
    """Steps at which to record: 0 (untrained), every ``record_every`` epochs, and the end."""
    total = max(1, round(epochs * spe))
    every = record_every * spe
    steps = {0, total}
    k = 1
    while k * every < total - 1e-9:
        steps.add(max(1, round(k * every)))
        k += 1
    return sorted(steps)


def training_plan(opt: torch.optim.Optimizer, hp: "Hyper", n: int
                  ) -> tuple[int, int, torch.optim.lr_scheduler.LambdaLR, set[int]]:
    """What a training of ``n`` examples under ``hp`` does: (steps per epoch, total steps, the
    learning-rate schedule on ``opt``, the steps at which to record)."""
    spe = steps_per_epoch(n, hp.batch_size)
    total = max(1, round(hp.epochs * spe))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(hp.schedule, total, hp.lr))
    return spe, total, sched, set(checkpoint_steps(spe, hp.epochs, hp.record_every))


class RunningStats:
    """Loss and accuracy over the batches trained since the last checkpoint, kept on the device
    (one value, or one per ensemble member for ``shape=(K,)``) and read once per checkpoint."""

    def __init__(self, shape: tuple[int, ...], device: torch.device):
        self.shape, self.device = shape, device
        self.reset()

    def reset(self) -> None:
        self.loss_sum = torch.zeros(self.shape, device=self.device)
        self.hit_sum = torch.zeros(self.shape, device=self.device, dtype=torch.int64)
        self.seen = 0

    def add(self, loss: torch.Tensor, hits: torch.Tensor, n: int) -> None:
        """``loss``: the batch's mean loss (detached); ``hits``: its number of correct predictions."""
        self.loss_sum += loss * n
        self.hit_sum += hits
        self.seen += int(n)

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss_sum / max(self.seen, 1), self.hit_sum / max(self.seen, 1)


class StepEnd:
    """What follows every optimiser step, in every training loop: ``record(step)`` at the plan's
    checkpoints, otherwise a progress report at most every 0.25 s."""

    def __init__(self, ckpt_set: set[int], total: int, record: Callable[[int], None],
                 progress: "ProgressFn | None"):
        self.ckpt_set, self.total, self.record, self.progress = ckpt_set, total, record, progress
        self._last = time.monotonic()

    def __call__(self, step: int) -> None:
        if step in self.ckpt_set:
            self.record(step)
        elif self.progress and time.monotonic() - self._last > 0.25:
            self.progress(step / self.total, {})
            self._last = time.monotonic()


def restore_schedule_and_rng(state: dict, sched, device: torch.device) -> int:
    """Put a saved state's schedule and random-number generators back; returns its step."""
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    return int(state["step"])


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def crop_flip_draws(b: int, h: int, seed: int, step: int, flip: bool, device: torch.device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The random crop offsets (dx, dy) and flips of one network's batch at ``step``.

    Shared by :func:`augment_batch` and the vectorised ensembles, so a member of an ensemble sees
    exactly the augmentation it would see trained alone.
    """
    pad = max(1, h // 8)
    g = torch.Generator(device=device).manual_seed(seed * 7_919 + step)
    dx = torch.randint(0, 2 * pad + 1, (b,), device=device, generator=g)
    dy = torch.randint(0, 2 * pad + 1, (b,), device=device, generator=g)
    do_flip = (torch.rand(b, device=device, generator=g) < 0.5) if flip else None
    return dx, dy, do_flip


def apply_crop_flip(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, do_flip: torch.Tensor | None
                    ) -> torch.Tensor:
    """Crop (zero padding of size/8) at offsets (dx, dy) and flip where ``do_flip``, as one gather."""
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])             # [B, H]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])             # [B, W]
    if do_flip is not None:
        cols = torch.where(do_flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]      # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def augment_batch(x: torch.Tensor, seed: int, step: int, flip: bool) -> torch.Tensor:
    """Random crop (zero padding of size/8) and horizontal flip, batched on x's device."""
    if x.dim() != 4:
        return x
    return apply_crop_flip(x, *crop_flip_draws(x.shape[0], x.shape[2], seed, step, flip, x.device))


def make_optimizer(model: torch.nn.Module | list[torch.Tensor], hp: Hyper) -> torch.optim.Optimizer:
    """The optimiser of a model (or of a list of parameters: a vectorised ensemble's stacked ones;
    SGD and AdamW are elementwise, so over stacked parameters they act as K independent optimisers).
    torch's own classes, minus their start-up cost: see trainer/optim.py."""
    params = list(model.parameters() if isinstance(model, torch.nn.Module) else model)
    if hp.optimizer == "sgd":
        return optim.SGD(params, lr=hp.lr, momentum=hp.momentum,
                         weight_decay=hp.weight_decay, nesterov=hp.momentum > 0)
    if hp.optimizer == "adam":
        # The fused kernel is several times faster (one pass per tensor). It rounds a tensor's
        # vector-width tail otherwise than the rest, so an ensemble hands it, per member, the
        # parameters that would not split evenly (trainer/ensemble.py, _ALIGN_BYTES): members then
        # get the very numbers of the network alone.
        try:
            return optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
        except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
            return optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    raise ValueError(f"unknown optimizer {hp.optimizer}")


def lr_factor(schedule: str, total_steps: int, base_lr: float) -> Callable[[int], float]:
    if schedule == "cosine":
        return lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))
    if schedule == "step-vgg":  # st-VGG: x 1/1.5 every 300 batches, floor 1e-4
        return lambda s: max(1e-4 / base_lr, (1 / 1.5) ** (s // 300))
    if schedule == "constant":
        return lambda s: 1.0
    raise ValueError(f"unknown schedule {schedule}")


def _cuda_settings(dev: torch.device) -> torch.device:
    # Batch shapes are fixed within a run: let cuDNN pick its fastest convolutions once.
    torch.backends.cudnn.benchmark = True
    return dev


def resolve_device(name: str) -> torch.device:
    from orderlab.errors import OrderlabError, counted
    if name == "auto":
        return _cuda_settings(torch.device("cuda")) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OrderlabError(f"--device {name}: no CUDA GPU is visible to PyTorch here; use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise OrderlabError(f"--device {name}: only {counted(torch.cuda.device_count(), 'CUDA device')} here "
                                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return _cuda_settings(dev)
    raise OrderlabError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


ProgressFn = Callable[[float, dict[str, float]], None]


def device_label(device: torch.device) -> str:
    """``cpu``, or ``cuda:N (card name)``: what a run's ``orderlab.device`` tag says."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def train_network(run: Any, model: torch.nn.Module, data: DeviceData, hp: Hyper, *, seed: int,
                  record_splits: tuple[str, ...], progress: ProgressFn | None = None,
                  resume_state: dict | None = None, save_state: bool = True) -> dict[str, float]:
    """Train ``model`` and record its correctness through ``run`` (a :class:`NetworkRun`).

    Returns the final metrics. ``resume_state`` (from a saved ``state.pt``) continues a run.
    """
    device = data.device
    run.trained_on(device_label(device))
    cuda = device.type == "cuda"
    amp = cuda
    channels_last = cuda and data.kind == "image"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, hp)
    n = data.n_train
    spe, total, sched, ckpt_set = training_plan(opt, hp, n)
    flip = data.flip_ok
    step = 0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        step = restore_schedule_and_rng(resume_state, sched, device)

    stats = RunningStats((), device)
    last: dict[str, float] = {}

    def record(at_step: int) -> None:
        nonlocal last
        res = {s: evaluate_on_device(model, data.x[s], data.y[s], amp=amp, channels_last=channels_last)
               for s in record_splits}
        loss_mean, acc_mean = stats.means()
        host = to_host(res)  # the checkpoint's one synchronisation
        metrics = {"loss": float(loss_mean), "train_running_acc": float(acc_mean)} if stats.seen else {}
        metrics.update({f"{s}_acc": float(host[s][0].mean()) for s in record_splits})
        metrics["lr"] = opt.param_groups[0]["lr"]
        metrics["epoch"] = at_step / spe
        with ctrl_c_after():    # a checkpoint (record, or carried by the state) and its state: together
            run.checkpoint(at_step / spe, at_step, host, metrics)
            if save_state:
                save_training_state(run, model=model.state_dict(), optimizer=opt.state_dict(),
                                    scheduler=sched.state_dict(), step=at_step, device=device)
        stats.reset()
        last = metrics
        if progress:
            progress(at_step / total, metrics)

    step_end = StepEnd(ckpt_set, total, record, progress)
    if resume_state is None:  # a saved state comes after its checkpoint (0 included) was recorded
        record(0)
    model.train()
    epoch = step // spe
    while step < total:
        perm = epoch_permutation(seed, epoch, n)
        for xb, yb in data.batches(perm, step - epoch * spe, spe, hp.batch_size):
            if step >= total:
                break
            if hp.augment:
                xb = augment_batch(xb, seed, step, flip)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast_for(device, amp):
                logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            stats.add(loss.detach(), (logits.detach().argmax(1) == yb).sum(), yb.shape[0])
            step_end(step)
        epoch += 1
    return last


def save_training_state(run: Any, *, model: dict, optimizer: dict, scheduler: dict, step: int,
                        device: torch.device, **extra: Any) -> None:
    """Publish a run's full training state for resume, in the one layout resume reads (for a network
    alone and for an ensemble member alike): model, optimiser, schedule, RNG, position in the data
    order, checkpoints recorded, the checkpoints whose metrics are still buffered and those the
    published record lacks (a resume re-logs and re-publishes what a kill left unwritten: see
    NetworkRun)."""
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
             "rng_cpu": torch.get_rng_state(),
             "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
             "step": step, "checkpoints": run.writer.n_checkpoints, "metrics": run.unflushed(),
             "unpublished": run.carry_unpublished(), **extra}
    run.store.write_state(run.run_id, lambda path: write_state_file(state, path), run.artifact_uri)


def write_state_file(state: dict, path: Path) -> None:
    """``torch.save`` into memory, then one write: twice as fast as its many small file writes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with open(path, "wb") as f:
        f.write(buf.getbuffer())


def load_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)
