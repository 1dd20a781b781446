"""Vectorised ensembles: K seeds of one architecture trained at once as one model.

The K members' parameters and buffers are stacked (``torch.func.stack_module_state``). Plain
sequential networks (``mlp``, ``cnn``) then run as hand-written stacked layers
(:mod:`orderlab.trainer.stacked`: batched products, grouped convolutions), 1.5-2x faster than
vmap on small shapes; other convolutional networks, batch norm and residual blocks included,
run as grouped layers (:mod:`orderlab.trainer.grouped`: one network K times as wide, members in
their own channels; on the CPU only networks without batch norm: :func:`grouped_here`); every other
network runs under ``torch.func.vmap`` over ``functional_call``. Each member keeps everything a
network trained alone has: its own initialisation (``torch.manual_seed(seed)`` before the build,
as in :func:`orderlab.trainer.api.train_one`), its own data order (``epoch_permutation(seed, e)``),
its own augmentation (``crop_flip_draws(seed, step)``), its own batch-norm statistics (stacked
buffers, updated in place) and, with SGD or AdamW, its own optimiser (both are
elementwise, so one optimiser over the stacked parameters acts as K independent ones). Each member
writes its own child run, record, metrics and resumable state, in the same format as a network
trained alone.

Exactness: on the CPU, networks built from linear layers (``mlp``) train bit for bit as they do
alone: records, metrics and saved state (tests/test_ensemble_exact.py, on full digits). Three
things keep them so: the stacked products do each member's ``nn.Linear`` arithmetic; the
optimiser updates each member's parameters with the arithmetic it would use alone (fused AdamW
rounds a tensor's vector-width tail otherwise than the rest, so parameters whose per-member size is
not a whole number of cache lines are optimised per member: ``_ALIGN_BYTES``); and the recorded loss
is each member's batch mean summed in ``F.cross_entropy``'s own order (:class:`MemberStats`).
Convolutions become grouped convolutions, whose sums run in another order: members then differ
from solo runs by float rounding (~1e-7 per step), so their records are statistically
indistinguishable rather than identical. Dropout draws its masks from one stream for the whole
ensemble, so networks with dropout differ from solo runs in their random masks (same distribution).

Whether an architecture can train as an ensemble is tried, not guessed (:func:`unsupported_reason`
runs one step as training does). With torch 2.11, vmapped batch norm's backward under bf16
autocast fails, so on CUDA a batch-norm network without a grouped form (``densenet``: its
concatenations mix channels) falls back to one at a time (docs/performance.md).
"""
from __future__ import annotations

import copy
import warnings
from contextlib import ExitStack
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from orderlab.errors import OrderlabError
from orderlab.trainer.loop import (DeviceData, Hyper, RunningStats, StepEnd, apply_crop_flip, crop_flip_draws,
                                   device_label, epoch_permutation, make_optimizer, restore_schedule_and_rng,
                                   save_training_state, training_plan)
from orderlab.trainer.recorder import autocast_for
from orderlab.trainer.run import ctrl_c_after
from orderlab.trainer.grouped import GroupedForward, grouped_plan
from orderlab.trainer.stacked import StackedForward, stacked_plan

EVAL_BATCH = 1024

# vmap runs an op without a batching rule member by member and says so once per op (text-bag's
# embedding_bag with padding_idx): a note to PyTorch's developers, printed with its source line
# into orderlab's output. The ensemble's speed is measured by benchmarks/ensemble_speedup.py.
warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented the "
                        "batching rule", category=UserWarning)

# The optimiser updates a stacked parameter as one tensor, except where a member's part is not a
# whole number of 64-byte cache lines: those it updates member by member, through views. torch's
# fused AdamW on the CPU shares a tensor out to threads in whole cache lines, runs whole vectors
# (16 floats with AVX-512, 8 with AVX2) through vector code and the tensor's last ``numel % 16``
# elements through scalar code, and the two round the update of ``exp_avg_sq`` differently. Alone,
# the mlp's output bias (10 classes) is all such a tail; stacked as [K, 10] it was mostly whole
# vectors, so members drifted from their networks alone within the first epoch (a few steps in).
# A member part of whole cache lines falls on the same side of that split stacked as alone.
_ALIGN_BYTES = 64


def grouped_here(device: torch.device, model: torch.nn.Module) -> bool:
    """Whether ``model``'s members, having no stacked plan, run as grouped layers here (else under vmap).

    On GPUs, always: vmapped batch norm fails under bf16 autocast, and grouped layers launch each
    kernel once for all members (benchmarks/ensemble_step.py on an H100, K=8: st-VGG 4.1x the
    networks/s of one alone grouped, 3.3x under vmap; ResNet-18 2.0x grouped). On the CPU, for
    networks without batch norm: K=4 st-VGGs at 8x8 train 1.10x the networks/s of one alone grouped,
    0.7-0.9x under vmap; but the built-in networks with batch norm are the wide ones, whose grouped
    convolutions oneDNN runs slowly (ResNet-18 0.5-0.7x grouped, 0.9-1.2x under vmap; VGG-16 slower
    grouped too)."""
    if device.type == "cuda":
        return True
    return not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def hyper(hp: dict[str, Any]) -> Hyper:
    return Hyper(optimizer=hp["optimizer"], lr=float(hp["lr"]), momentum=float(hp["momentum"]),
                 weight_decay=float(hp["weight_decay"]), batch_size=int(hp["batch_size"]),
                 epochs=float(hp["epochs"]), schedule=hp["schedule"], augment=bool(hp["augment"]),
                 record_every=float(hp["record_every"]))


def build_members(spec, ds, seeds: list[int]) -> list[torch.nn.Module]:
    """One model per seed, initialised exactly as a network of that seed trained alone."""
    models = []
    for s in seeds:
        torch.manual_seed(int(s))
        models.append(spec.build(ds.input_shape, ds.n_classes, vocab_size=ds.vocab_size))
    return models


def unsupported_reason(spec, ds, data: DeviceData | None, hp: dict[str, Any],
                       models: list[torch.nn.Module] | None = None) -> str | None:
    """Why ``spec`` cannot train as a vectorised ensemble here (None: it can).

    Tried, not guessed: the members (``models``, else two fresh ones) run one forward and backward
    pass on two examples, as training runs them (bf16 autocast on GPUs). The models themselves are
    left untouched (vmap runs on stacked copies of their parameters and buffers).
    """
    if spec.kind != "torch":
        return f"{spec.name} is a {spec.kind} learner, not a torch network"
    if data is None:
        return "no torch data"
    if data.streaming:
        from orderlab.trainer.api import STREAM_ENV, stream_setting
        why = (f"{STREAM_ENV}=1 streams the dataset from host memory" if stream_setting()
               else "the dataset does not fit on the device and streams from host memory")
        return f"{why}; each member would need its own stream"
    if hp["optimizer"] not in ("sgd", "adam"):
        return f"optimizer {hp['optimizer']} is not elementwise"
    amp = data.device.type == "cuda"            # as in training: bf16 autocast on GPUs
    ens = None
    try:
        models = models or build_members(spec, ds, [0, 1])
        ens = Ensemble(models, data.device)
        x = data.x["train"][:2]
        xb = torch.stack([x] * ens.k)
        with autocast_for(data.device, amp):
            logits = ens.forward(xb)
            loss = F.cross_entropy(logits.float().flatten(0, 1), data.y["train"][:2].repeat(ens.k))
        loss.backward()
        ens.set_train(False)
        with autocast_for(data.device, amp):
            ens.forward(x, shared=True)
    except Exception as e:  # noqa: BLE001 - any failure means: train this architecture one at a time
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        how = " under bf16 autocast" if amp else ""
        what = {"stacked": "its stacked layers fail", "grouped": "its grouped layers fail"}.get(
            ens.implementation if ens is not None else "", "torch.func.vmap cannot run it")
        if ens is not None and ens.no_grouped_form and ens.implementation == "vmap":
            what = f"it has no grouped form ({ens.no_grouped_form}) and {what}"
        return f"{what}{how} ({type(e).__name__}: {first[:160]})"
    return None


class Ensemble:
    """K models of one architecture as stacked parameters and buffers, run as stacked layers,
    grouped layers or under vmap."""

    def __init__(self, models: list[torch.nn.Module], device: torch.device):
        from torch.func import functional_call, stack_module_state
        self.k = len(models)
        self.device = device
        for m in models:
            m.to(device)
        self.state_keys = list(models[0].state_dict().keys())
        params, buffers = stack_module_state(models)
        self.params: dict[str, torch.Tensor] = params
        self.buffers: dict[str, torch.Tensor] = buffers
        # What the optimiser updates: each stacked parameter whole, or, on the CPU where a member's
        # part is not a whole number of cache lines, one view per member (see _ALIGN_BYTES), whose
        # gradient is its row of the stacked gradient (see _GradLink). GPUs promise no bitwise
        # equality and their fused kernels have no such tail: nothing is split there.
        self._names = list(params)
        self._slots: list[tuple[str, int | None]] = []       # (name, member or None: all members)
        self._views: dict[str, list[torch.Tensor]] = {}
        for name, p in params.items():
            if device.type != "cpu" or (p[0].numel() * p.element_size()) % _ALIGN_BYTES == 0:
                self._slots.append((name, None))
                continue
            views = [p.detach()[m] for m in range(self.k)]
            self._views[name] = views
            self._slots += [(name, m) for m in range(self.k)]
            _GradLink(p, views)
        # A stateless copy: functional_call swaps the stacked tensors in, one member per vmap lane.
        self.base = copy.deepcopy(models[0]).to("meta")
        self.base.train()

        def fwd(p, b, x):
            return functional_call(self.base, (p, b), (x,))
        self._fwd = fwd
        self._stacked: dict[int, StackedForward | None] = {}   # per example rank (plans check layouts)
        self._grouped: dict[tuple[int, ...], GroupedForward | None] = {}   # per example shape (plans are checked)
        self.no_grouped_form = ""       # why the last grouped plan tried was refused
        self._grouped_here: bool | None = None
        self._train = True

    def _stacked_for(self, example_dims: int) -> StackedForward | None:
        if example_dims not in self._stacked:
            plan = stacked_plan(self.base, example_dims)
            self._stacked[example_dims] = StackedForward(plan, self.k) if plan else None
        return self._stacked[example_dims]

    def eval_batch(self, device: torch.device, example_dims: int) -> int:
        """Examples per evaluation chunk. On the CPU, convolutions want a chunk's activations for all
        K members to stay in cache (grouped convolutions over [b, K*C, H, W] run 2-3x slower once
        they outgrow it); linear layers, evaluated member by member, and GPUs want large batches."""
        stacked = self._stacked_for(example_dims)
        if device.type == "cuda" or (stacked is not None and not stacked.has_conv):
            return EVAL_BATCH
        return max(32, EVAL_BATCH // self.k)

    def _grouped_for(self, example: torch.Tensor) -> GroupedForward | None:
        if self._grouped_here is None:          # asked once: it walks the network's modules
            self._grouped_here = grouped_here(self.device, self.base)
        if not self._grouped_here:
            return None
        key = tuple(example.shape)
        if key not in self._grouped:
            plan, self.no_grouped_form = grouped_plan(self.base, self.k, self.params, self.buffers, example)
            self._grouped[key] = plan
            if plan is not None:
                plan.train(self._train)
        return self._grouped[key]

    @property
    def implementation(self) -> str:
        """How the members run: "stacked" layers (trainer/stacked.py), "grouped" layers
        (trainer/grouped.py) or "vmap"."""
        if any(self._stacked.values()):
            return "stacked"
        return "grouped" if any(self._grouped.values()) else "vmap"

    def set_train(self, mode: bool) -> None:
        self._train = mode
        self.base.train(mode)
        for g in self._grouped.values():
            if g is not None:
                g.train(mode)

    def forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Logits [K, B, classes]: ``x`` is [K, B, ...] (one batch per member) or, with ``shared``,
        one batch [B, ...] for every member."""
        from torch.func import vmap
        stacked = self._stacked_for(x.dim() - (1 if shared else 2))
        if stacked is not None:
            return stacked(self.params, x, shared)
        grouped = self._grouped_for(x[0] if shared else x[0, 0])
        if grouped is not None:
            return grouped(self.params, self.buffers, x, shared)
        if shared:
            # Expanded rather than broadcast (in_dims=None): the members then run the batched kernels
            # of training, whose arithmetic matches a network alone where vmap allows it.
            x = x.unsqueeze(0).expand(self.k, *x.shape)
        return vmap(self._fwd, randomness="different")(self.params, self.buffers, x)

    def parameters(self) -> list[torch.Tensor]:
        """What the optimiser updates (in place, so ``params`` follow): the stacked parameters, and
        one view per member of those split for exactness (see ``_ALIGN_BYTES``)."""
        return [self.params[name] if m is None else self._views[name][m] for name, m in self._slots]

    # -- one member's state, in the layout of a network trained alone (so any member resumes alone)
    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        out = {}
        for key in self.state_keys:
            src = self.params.get(key)
            if src is None:
                src = self.buffers[key]
            out[key] = src[k].detach().clone()
        return out

    def load_member_state_dict(self, k: int, sd: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for key, value in sd.items():
                dst = self.params.get(key)
                if dst is None:
                    dst = self.buffers[key]
                dst[k].copy_(value.to(dst.device, dst.dtype))

    def member_optimizer_state(self, sd: dict, k: int) -> dict:
        """Member ``k``'s part of the stacked optimiser's ``state_dict()`` ``sd``, indexed as the
        optimiser of the network alone indexes its parameters."""
        solo = {name: j for j, name in enumerate(self._names)}
        plist = self.parameters()
        state = {}
        for i, st in sd["state"].items():
            name, m = self._slots[i]
            if m is None:
                p = plist[i]
                state[solo[name]] = {key: (v[k].clone() if torch.is_tensor(v) and v.dim() > 0 and v.shape == p.shape
                                           else (v.clone() if torch.is_tensor(v) else v)) for key, v in st.items()}
            elif m == k:
                state[solo[name]] = {key: (v.clone() if torch.is_tensor(v) else v) for key, v in st.items()}
        groups = copy.deepcopy(sd["param_groups"])
        for g in groups:
            g["params"] = [solo[self._slots[i][0]] for i in g["params"] if self._slots[i][1] in (None, k)]
        return {"state": state, "param_groups": groups}

    def load_member_optimizer_states(self, opt: torch.optim.Optimizer, states: list[dict]) -> None:
        """Stack K members' optimiser states (each shaped as a network alone's) into ``opt``."""
        solo = {name: j for j, name in enumerate(self._names)}
        plist = self.parameters()
        merged: dict[int, dict[str, Any]] = {}
        for i, (name, m) in enumerate(self._slots):
            j = solo[name]
            if j not in states[0]["state"]:
                continue
            if m is not None:
                merged[i] = {key: (v.to(plist[i].device) if torch.is_tensor(v) and v.dim() > 0 else v)
                             for key, v in states[m]["state"][j].items()}
                continue
            p = plist[i]
            merged[i] = {}
            for key, v0 in states[0]["state"][j].items():
                if torch.is_tensor(v0) and v0.dim() > 0 and (self.k,) + tuple(v0.shape) == tuple(p.shape):
                    merged[i][key] = torch.stack([s["state"][j][key] for s in states]).to(p.device)
                else:
                    merged[i][key] = v0
        groups = copy.deepcopy(states[0]["param_groups"])
        for g in groups:
            members = set(g["params"])
            g["params"] = [i for i, (name, _) in enumerate(self._slots) if solo[name] in members]
        opt.load_state_dict({"state": merged, "param_groups": groups})


class _GradLink:
    """The gradient of a split parameter reaches the optimiser through its members' views.

    After each backward pass, member ``m``'s view gets row ``m`` of the stacked gradient (a view: no
    copy). The optimiser's ``zero_grad`` reaches only the views, so before the next gradient
    accumulates into the stacked tensor, a stacked gradient whose views were all dropped
    (``set_to_none``) is dropped too; zeroed in place, the views zero it themselves. Gradients so
    accumulate exactly as they would into the parameters the optimiser holds."""

    def __init__(self, p: torch.Tensor, views: list[torch.Tensor]):
        self.p, self.views = p, views
        p.register_hook(self.before)
        p.register_post_accumulate_grad_hook(self.after)

    def before(self, grad: torch.Tensor) -> torch.Tensor:
        if self.p.grad is not None and all(v.grad is None for v in self.views):
            self.p.grad = None
        return grad

    def after(self, p: torch.Tensor) -> None:
        for v, row in zip(self.views, p.grad.unbind(0)):
            v.grad = row


@torch.no_grad()
def evaluate_members(ens: Ensemble, x: torch.Tensor, y: torch.Tensor, *, amp: bool
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(correct bool [K, N], predicted int64 [K, N], p_true float32 [K, N]) in eval mode, on the device."""
    n = x.shape[0]
    bs = ens.eval_batch(x.device, x.dim() - 1)
    pred = torch.empty(ens.k, n, dtype=torch.int64, device=x.device)
    p_true = torch.empty(ens.k, n, dtype=torch.float32, device=x.device)
    ens.set_train(False)
    try:
        with autocast_for(x.device, amp):
            for i in range(0, n, bs):
                logits = ens.forward(x[i:i + bs], shared=True).float()     # [K, b, C]
                yb = y[i:i + bs]
                probs = torch.softmax(logits, dim=-1)
                pred[:, i:i + bs] = logits.argmax(dim=-1)
                p_true[:, i:i + bs] = probs.gather(2, yb[None, :, None].expand(ens.k, -1, 1)).squeeze(2)
    finally:
        ens.set_train(True)
    return pred == y[None, :], pred, p_true


class MemberStats:
    """Each member's loss and accuracy over the batches trained since the last checkpoint: what
    :class:`~orderlab.trainer.loop.RunningStats` keeps for a network alone, to the bit on the CPU.

    A network alone adds up the mean loss ``F.cross_entropy`` gives for each batch, which sums the
    batch in its own order (:func:`_nll_means`); the ensemble's ``mean(1)`` over the members' losses
    sums in another and differs in the last bit in about half the batches. So the members' per-example
    losses are kept (detached, on the device) and reduced at the checkpoint, batch by batch in that
    order, then accumulated as RunningStats accumulates them: nothing is added to a training step."""

    def __init__(self, k: int, device: torch.device):
        self.k, self.device = k, device
        self.reset()

    def reset(self) -> None:
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.seen = 0

    def add(self, per_example: torch.Tensor, hits: torch.Tensor) -> None:
        """``per_example``: the batch's losses [K, B] (detached); ``hits``: correct predictions [K]."""
        self._batches.append((per_example, hits))
        self.seen += int(per_example.shape[1])

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        batch_means: dict[int, torch.Tensor] = {}
        for size in {p.shape[1] for p, _ in self._batches}:           # all batches of one size at once
            idx = [i for i, (p, _) in enumerate(self._batches) if p.shape[1] == size]
            means = _nll_means(torch.stack([self._batches[i][0] for i in idx]).flatten(0, 1))
            batch_means.update(zip(idx, means.view(len(idx), self.k).unbind(0)))
        stats = RunningStats((self.k,), self.device)
        for i, (p, hits) in enumerate(self._batches):
            stats.add(batch_means[i], hits, p.shape[1])
        return stats.means()


def _nll_means(v: torch.Tensor) -> torch.Tensor:
    """Row means of per-example losses ``v`` [R, B], each summed as ``F.cross_entropy`` (mean) sums
    one batch on the CPU: torch's nll_loss adds the examples in order into a cascade of 8 partial
    sums, each flushed into the next every ``2**p`` examples (``p = max(4, ceil(log2 B) // 8)``),
    then adds the partial sums up and divides by B (aten/src/ATen/native/LossNLL.cpp). Elementwise
    float additions in the same order give the same bits (tests/test_ensemble_exact.py checks it
    against ``F.cross_entropy`` itself)."""
    rows, b = v.shape
    power = max(4, (b - 1).bit_length() // 8)
    mask = (1 << power) - 1
    zero = torch.zeros(rows, dtype=v.dtype, device=v.device)
    partial = [zero] * 8
    for i in range(b):
        partial[0] = partial[0] + v[:, i]
        for j in range(7):
            if i & (mask << (j * power)):
                break
            partial[j + 1] = partial[j + 1] + partial[j]
            partial[j] = zero
    total = zero
    for part in partial:
        total = total + part
    return total / b


def augment_members(xb: torch.Tensor, seeds: list[int], step: int, flip: bool) -> torch.Tensor:
    """Each member's crop and flip (as it would get them alone), applied as one gather over K*B images."""
    if xb.dim() != 5:
        return xb
    k, b, c, h, w = xb.shape
    draws = [crop_flip_draws(b, h, s, step, flip, xb.device) for s in seeds]
    dx = torch.cat([d[0] for d in draws])
    dy = torch.cat([d[1] for d in draws])
    do_flip = torch.cat([d[2] for d in draws]) if flip else None
    return apply_crop_flip(xb.reshape(k * b, c, h, w), dx, dy, do_flip).reshape(k, b, c, h, w)


ProgressFn = Callable[[float, dict[str, float]], None]


def train_vectorised(runs: list[Any], models: list[torch.nn.Module], data: DeviceData, hp: Hyper, *,
                     seeds: list[int], record_splits: tuple[str, ...], progress: ProgressFn | None = None,
                     resume_states: list[dict] | None = None, save_state: bool = True) -> list[dict[str, float]]:
    """Train ``models`` (one per seed) together; member ``k`` records through ``runs[k]``.

    The mirror of :func:`orderlab.trainer.loop.train_network`: same checkpoints, same metrics, one
    host synchronisation per checkpoint for the whole ensemble. Returns each member's final metrics.
    """
    device = data.device
    amp = device.type == "cuda"
    k = len(models)
    for run in runs:
        run.trained_on(device_label(device))
    ens = Ensemble(models, device)
    opt = make_optimizer(ens.parameters(), hp)
    n = data.n_train
    spe, total, sched, ckpt_set = training_plan(opt, hp, n)
    x, y = data.x["train"], data.y["train"]
    step = 0
    if resume_states is not None:
        steps = {int(s["step"]) for s in resume_states}
        if len(steps) != 1:
            raise ValueError(f"members saved at different steps {sorted(steps)}; resume them one at a time")
        for i, st in enumerate(resume_states):
            ens.load_member_state_dict(i, st["model"])
        ens.load_member_optimizer_states(opt, [s["optimizer"] for s in resume_states])
        step = restore_schedule_and_rng(resume_states[0], sched, device)

    stats = MemberStats(k, device)
    last: list[dict[str, float]] = [{} for _ in range(k)]

    def record(at_step: int) -> None:
        res = {s: evaluate_members(ens, data.x[s], data.y[s], amp=amp) for s in record_splits}
        flat = [t for s in record_splits for t in res[s]] + list(stats.means())
        host = [t.to("cpu", non_blocking=True) for t in flat]
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the checkpoint's one synchronisation, for all K members
        host = [t.numpy() for t in host]
        loss_h, acc_h = host[-2], host[-1]
        lr = opt.param_groups[0]["lr"]
        opt_sd, sched_sd = (opt.state_dict(), sched.state_dict()) if save_state else (None, None)  # once for all K
        for m, run in enumerate(runs):
            out = {s: (host[3 * i][m], host[3 * i + 1][m], host[3 * i + 2][m]) for i, s in enumerate(record_splits)}
            metrics = {"loss": float(loss_h[m]), "train_running_acc": float(acc_h[m])} if stats.seen else {}
            metrics.update({f"{s}_acc": float(out[s][0].mean()) for s in record_splits})
            metrics["lr"] = lr
            metrics["epoch"] = at_step / spe
            # A member's checkpoint (in its published record, or carried by its state) and its training
            # state are written together, then Ctrl-C acts (one member at a time: members stopped at
            # different checkpoints resume in groups by step).
            with ctrl_c_after():
                run.checkpoint(at_step / spe, at_step, out, metrics)
                if save_state:
                    # in the layout of a network alone, so any member can resume alone
                    save_training_state(run, model=ens.member_state_dict(m),
                                        optimizer=ens.member_optimizer_state(opt_sd, m), scheduler=sched_sd,
                                        step=at_step, device=device, ensemble=ens.k)
            last[m] = metrics
        stats.reset()
        if progress:
            progress(at_step / total, _mean_metrics(last))

    step_end = StepEnd(ckpt_set, total, record, progress)
    if resume_states is None:  # a saved state comes after its checkpoint was recorded
        record(0)
    ens.set_train(True)
    epoch = step // spe
    while step < total:
        perms = torch.stack([epoch_permutation(s, epoch, n) for s in seeds]).to(device, non_blocking=True)
        for b in range(step - epoch * spe, spe):
            if step >= total:
                break
            idx = perms[:, b * hp.batch_size:(b + 1) * hp.batch_size]          # [K, B]
            xb, yb = x[idx], y[idx]
            if hp.augment:
                xb = augment_members(xb, seeds, step, data.flip_ok)
            bsz = yb.shape[1]
            with autocast_for(device, amp):
                logits = ens.forward(xb)                                       # [K, B, C]
                per_example = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(),
                                              reduction="none").view(k, bsz)
                losses = per_example.mean(1)
            opt.zero_grad(set_to_none=True)
            # The sum's gradient for each member's parameters is that member's own gradient.
            losses.sum().backward()
            opt.step()
            sched.step()
            step += 1
            stats.add(per_example.detach(), (logits.detach().argmax(-1) == yb).sum(1))
            step_end(step)
        epoch += 1
    return last


def _mean_metrics(ms: list[dict[str, float]]) -> dict[str, float]:
    keys = set(ms[0]) if ms else set()
    return {key: float(np.mean([m[key] for m in ms if key in m])) for key in keys}


def _chunks(seq: list, size: int) -> list[list]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def fallback_reason(arch: str, spec, ds, data: DeviceData | None, hp: dict[str, Any], k: int, reporter,
                    models: list[torch.nn.Module] | None = None) -> str | None:
    """:func:`unsupported_reason`, told to the user: the architecture then trains (or resumes) one
    network at a time."""
    why = unsupported_reason(spec, ds, data, hp, models)
    if why is not None:
        reporter.message(f"[yellow]{arch}: --ensemble {k} falls back to one network at a time: {why}[/]")
    return why


def train_ensembles(cfg, ctx, jobs, hps: dict[str, dict[str, Any]], data: DeviceData | None, reporter) -> list[str]:
    """``orderlab train --ensemble K``: each architecture's seeds in groups of K, each group one
    vectorised model. Architectures that cannot be vectorised train one network at a time, with a
    message saying why."""
    from orderlab.trainer.api import train_solo
    ds = ctx.dataset
    by_arch: dict[str, tuple[Any, list[int]]] = {}
    for arch, spec, seed in jobs:
        by_arch.setdefault(arch, (spec, []))[1].append(seed)
    run_ids: list[str] = []
    for arch, (spec, seeds) in by_arch.items():
        hp = hps[arch]
        groups = _chunks(seeds, cfg.ensemble)
        first = build_members(spec, ds, groups[0]) if spec.kind == "torch" and len(groups[0]) > 1 else None
        if fallback_reason(arch, spec, ds, data, hp, cfg.ensemble, reporter, first) is not None:
            run_ids += train_solo(cfg, ctx, [(arch, spec, s) for s in seeds], hps, data, reporter)
            continue
        for i, group in enumerate(groups):
            if len(group) == 1:
                run_ids += train_solo(cfg, ctx, [(arch, spec, group[0])], hps, data, reporter)
            else:
                run_ids += train_group(cfg, ctx, arch, spec, group, hp, data, reporter,
                                       models=first if i == 0 else None)
    return run_ids


def group_name(arch: str, seeds: list[int]) -> str:
    return f"{arch}/s{seeds[0]}..s{seeds[-1]} (x{len(seeds)})"


def train_group(cfg, ctx, arch: str, spec, seeds: list[int], hp: dict[str, Any], data: DeviceData, reporter,
                *, run_ids: list[str] | None = None, resume_states: list[dict] | None = None,
                writers: list | None = None, models: list[torch.nn.Module] | None = None) -> list[str]:
    """One vectorised group: K child runs (new, or reclaimed by ``run_ids`` for resume)."""
    from orderlab.trainer.api import network_params
    from orderlab.trainer.run import NetworkRun, PublishClock
    ds = ctx.dataset
    clock = PublishClock()       # the members' records are published at the same checkpoints
    runs = [NetworkRun(ctx, arch, s, {**network_params(cfg, arch, s, hp, ds), "ensemble": len(seeds)},
                       float(hp["epochs"]), run_id=run_ids[i] if run_ids else None,
                       writer=writers[i] if writers else None,
                       unflushed=resume_states[i].get("metrics") if resume_states else None, clock=clock)
            for i, s in enumerate(seeds)]
    name = group_name(arch, seeds)
    models = models or build_members(spec, ds, seeds)
    finals: list[dict[str, float]] = [{} for _ in seeds]
    try:
        with ExitStack() as stack:
            for r in runs:
                stack.enter_context(r)
            reporter.network_started(name, runs[0].run_id)
            finals = train_vectorised(runs, models, data, hyper(hp), seeds=list(seeds),
                                      record_splits=tuple(cfg.record_splits), progress=reporter.network_progress,
                                      resume_states=resume_states)
    except KeyboardInterrupt:
        for r, s, f in zip(runs, seeds, finals):
            if r.running:       # the status it got: FINISHED if the interrupt came as it closed
                reporter.network_finished(f"{arch}/s{s}", r.status or "KILLED", f)
        raise
    except Exception as e:  # noqa: BLE001 - the group's runs are marked FAILED; go on with the others
        from orderlab.trainer.api import unended_status
        for r, s, f in zip(runs, seeds, finals):
            reporter.network_finished(f"{arch}/s{s}", unended_status(r), f, error=f"{type(e).__name__}: {e}")
        reporter.message(f"[red]{name} failed:[/] {type(e).__name__}: {e}")
        if isinstance(e, OrderlabError):
            raise
        return [r.run_id for r in runs if r.run_id]
    for r, s, f in zip(runs, seeds, finals):
        reporter.network_finished(f"{arch}/s{s}", r.status or "FINISHED", f)
    return [r.run_id for r in runs]
