"""Grouped networks: K members of a convolutional network run as one network K times as wide.

``torch.func.vmap`` runs any architecture, but batch norm under vmap is a problem twice over: with
torch 2.11 its backward under bf16 autocast fails on CUDA ("Expected running_mean to have type
BFloat16 but got Float"), and in float32 it runs per member, so an ensemble of K ResNet-18s took as
long as K networks alone. Here the members' activations are laid side by side along the channels,
``[B, K*C, H, W]`` with member ``m`` in channels ``m*C .. (m+1)*C - 1``, and a copy of the network
runs on them with its layers swapped for ones that keep members apart:

* ``Conv2d``: one convolution with ``K * groups`` groups (each member's weights see only its own
  channels);
* ``BatchNorm2d`` (and ``BatchNorm1d`` on features): one batch norm over ``K*C`` channels. Batch
  norm is per channel, so each member normalises with its own batch statistics and updates its own
  running statistics (views of the stacked buffers, updated in place), as it would alone;
* ``Linear``: activations ``[B, K*F]`` (what ``flatten(1)`` makes of member-major channels: each
  member's block in the order of the network alone) as ``[K, B, F]`` through the stacked products of
  :mod:`orderlab.trainer.stacked`.

Everything else must be per channel or elementwise (activations, pooling, padding, dropout,
identity, flatten, residual additions), so the network's own ``forward`` runs unchanged: residual
blocks included. Leaf layers outside a known list (a stochastic depth drawing one mask per example
for all members at once, an embedding, a layer norm over channels) give no plan, and the plan is
checked before it is used (:func:`_check`): in evaluation every member of a grouped copy must give,
in float32, the output the network alone gives with that member's parameters and buffers
(perturbed, so a mix-up of members or of batch-norm statistics cannot hide); in training, members
must not share the network's random draws. A forward that mixes channels across the whole tensor
(``torch.cat`` along channels, a channel shuffle, ``expand`` of a one-channel input) fails the
check, and the ensemble runs under vmap instead.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from orderlab.trainer.stacked import _StackedLinear

# Parameter-free leaf layers that act per channel or per element: on member-major channels they
# act on each member as on the network alone. (Dropout draws an independent mask per element, so
# members get independent masks, as they would alone.)
_SAFE_LEAVES = (nn.ReLU, nn.ReLU6, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
                nn.Hardsigmoid, nn.Mish, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                nn.Identity, nn.Flatten, nn.Dropout, nn.Dropout2d, nn.ZeroPad2d, nn.ConstantPad2d, nn.Upsample)

# How far a member's float32 output may be from the network alone's, relative to the largest output:
# the same sums in another order (TF32 on GPUs) are ~1e-3 apart; a member given another member's
# weights or statistics, or its channels mixed with another's, is O(1) off.
_CHECK_TOLERANCE = 1e-2


class _Ctx:
    """The stacked tensors the swapped layers read, set for each call."""
    params: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}


class _GroupedConv(nn.Module):
    def __init__(self, conv: nn.Conv2d, prefix: str, k: int, ctx: _Ctx):
        super().__init__()
        self.conv, self.prefix, self.k, self.ctx = conv, prefix, k, ctx

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        c = self.conv
        w = self.ctx.params[self.prefix + "weight"]                 # [K, out, in/groups, kh, kw]
        b = self.ctx.params.get(self.prefix + "bias")
        return F.conv2d(h, w.flatten(0, 1), None if b is None else b.flatten(), c.stride, c.padding, c.dilation,
                        groups=self.k * c.groups)


class _GroupedBatchNorm(nn.Module):
    """``nn.BatchNorm2d``'s forward over the K members' channels at once."""

    def __init__(self, bn: nn.BatchNorm2d, prefix: str, k: int, ctx: _Ctx):
        super().__init__()
        self.bn, self.prefix, self.k, self.ctx = bn, prefix, k, ctx

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        bn, p, b = self.bn, self.ctx.params, self.ctx.buffers
        weight, bias = p.get(self.prefix + "weight"), p.get(self.prefix + "bias")
        mean, var = b.get(self.prefix + "running_mean"), b.get(self.prefix + "running_var")
        momentum = 0.0 if bn.momentum is None else bn.momentum
        if self.training and bn.track_running_stats:
            count = b[self.prefix + "num_batches_tracked"]             # [K], all members alike
            count.add_(1)
            if bn.momentum is None:                                    # cumulative moving average
                momentum = 1.0 / float(count[0])
        # as nn.BatchNorm: batch statistics in training (or without running ones), which it then
        # folds into the running ones (views of the stacked buffers: each member's own, in place)
        use_batch = self.training or (mean is None and var is None)
        keep = not self.training or bn.track_running_stats
        return F.batch_norm(h, mean.view(-1) if keep and mean is not None else None,
                            var.view(-1) if keep and var is not None else None,
                            None if weight is None else weight.flatten(), None if bias is None else bias.flatten(),
                            use_batch, momentum, bn.eps)


class _GroupedLinear(nn.Module):
    def __init__(self, lin: nn.Linear, prefix: str, k: int, ctx: _Ctx):
        super().__init__()
        self.lin, self.prefix, self.k, self.ctx = lin, prefix, k, ctx

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() != 2 or h.shape[1] != self.k * self.lin.in_features:
            raise ValueError(f"a grouped linear layer takes [B, K*{self.lin.in_features}], got {list(h.shape)}")
        bsz = h.shape[0]
        x = h.reshape(bsz, self.k, -1).transpose(0, 1)                  # [K, B, F]
        p = self.ctx.params
        out = _StackedLinear.apply(x, p[self.prefix + "weight"], p.get(self.prefix + "bias"))
        return out.transpose(0, 1).reshape(bsz, -1)                     # [B, K*out]


_SWAPS = {nn.Conv2d: _GroupedConv, nn.BatchNorm2d: _GroupedBatchNorm, nn.BatchNorm1d: _GroupedBatchNorm,
          nn.Linear: _GroupedLinear}


def _swapped(model: nn.Module, k: int, ctx: _Ctx) -> tuple[nn.Module | None, str]:
    """A copy of ``model`` (on the meta device: it holds no tensors) with its layers swapped, or
    (None, why) where a layer is neither swappable nor known to act per channel."""
    grouped = copy.deepcopy(model)
    if list(grouped.named_parameters(recurse=False)) or list(grouped.named_buffers(recurse=False)):
        return None, "its forward uses tensors of its own"
    for name, mod in list(grouped.named_modules()):
        if not name:
            continue
        own = list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
        swap = _SWAPS.get(type(mod))
        if swap is None:
            if own:
                return None, f"its {type(mod).__name__} layer {name} has no grouped form"
            if not list(mod.children()) and not isinstance(mod, _SAFE_LEAVES):
                return None, f"its {type(mod).__name__} layer {name} is not known to act per channel"
            continue
        if swap is _GroupedConv and mod.padding_mode != "zeros":
            return None, f"its convolution {name} pads with {mod.padding_mode!r}"
        parent_name, _, attr = name.rpartition(".")
        parent = grouped.get_submodule(parent_name) if parent_name else grouped
        setattr(parent, attr, swap(mod, name + ".", k, ctx))
    return grouped, ""


def to_grouped(x: torch.Tensor, k: int, shared: bool) -> torch.Tensor:
    """[K, B, C, ...] (or, ``shared``, one [B, C, ...] for all) to member-major [B, K*C, ...];
    channels-last for images."""
    if shared:
        g = x.repeat(1, k, *([1] * (x.dim() - 2)))
    else:
        g = x.transpose(0, 1).flatten(1, 2)
    return g.contiguous(memory_format=torch.channels_last) if g.dim() == 4 else g


class GroupedForward:
    """``forward(params, buffers, x, shared)`` for K members of ``base`` laid side by side."""

    def __init__(self, grouped: nn.Module, k: int, ctx: _Ctx):
        self.model, self.k, self.ctx = grouped, k, ctx

    def train(self, mode: bool) -> None:
        self.model.train(mode)

    def __call__(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor,
                 shared: bool) -> torch.Tensor:
        """Logits ``[K, B, classes]``; ``x`` is ``[K, B, ...]`` or, with ``shared``, ``[B, ...]``."""
        self.ctx.params, self.ctx.buffers = params, buffers
        try:
            out = self.model(to_grouped(x, self.k, shared))            # [B, K*classes]
        finally:
            self.ctx.params, self.ctx.buffers = {}, {}
        return out.view(out.shape[0], self.k, -1).transpose(0, 1)


_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def grouped_plan(base: nn.Module, k: int, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                 example: torch.Tensor) -> tuple[GroupedForward | None, str]:
    """The grouped form of ``base`` (a stateless copy on the meta device) for K members, if it has
    one and it passes the check (module docstring): (plan, ""), else (None, why not).
    ``params``/``buffers`` are the stacked tensors (only their shapes, dtypes, scales and device are
    used); ``example`` is one example (on the device)."""
    ctx = _Ctx()
    grouped, why = _swapped(base, k, ctx)
    if grouped is None:
        return None, why
    fwd = GroupedForward(grouped, k, ctx)
    device = example.device
    # Perturbed stand-ins from a generator of their own (the training's random streams are left as
    # they were), each tensor's noise scaled to its own spread: deep networks keep finite outputs.
    gen = torch.Generator().manual_seed(0)

    def noise(t: torch.Tensor) -> torch.Tensor:
        spread = t.detach().float().std().item() if t.numel() > 1 else 0.0
        spread = spread if spread > 0 else (t.detach().float().abs().mean().item() or 1.0)
        return (0.1 * spread * torch.randn(t.shape, generator=gen)).to(device, t.dtype)

    p = {n: t.detach() + noise(t) if t.is_floating_point() else t.detach().clone() for n, t in params.items()}
    b = {}
    for n, t in buffers.items():
        if n.endswith("running_var"):
            b[n] = t.detach() * (0.5 + torch.rand(t.shape, generator=gen)).to(device, t.dtype)
        elif t.is_floating_point():
            b[n] = t.detach() + noise(t)
        else:
            b[n] = t.detach().clone()
    x = torch.randn((k, 4) + tuple(example.shape), generator=gen).to(device, example.dtype)
    was = base.training
    try:
        with torch.no_grad(), torch.autocast(device.type, enabled=False), \
                torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            why = _check(base, fwd, k, p, b, x)
    except _OOM:
        raise                   # the device is full, not the network unfit: training would fail too
    except Exception as e:  # noqa: BLE001 - any failure (a forward that reshapes channels, say): no plan
        why = f"its forward does not run on members side by side ({type(e).__name__})"
    finally:
        base.train(was)
        fwd.train(was)
    return (fwd, "") if not why else (None, why)


def _check(base: nn.Module, fwd: GroupedForward, k: int, p: dict, b: dict, x: torch.Tensor) -> str:
    """Why the grouped members do not compute what the network alone computes ("" if they do).

    In evaluation each member must give the network alone's output. In training a network may draw
    at random (dropout, stochastic depth), which cannot be compared draw for draw: there members
    given the same weights and inputs must come out different, or they would share their draws.
    (Training is not compared value for value: batch norm over the check's few examples turns the
    rounding of deep networks into large differences. A forward that mixes members only in training
    would go unnoticed; none of the built-in or torchvision networks has one.)"""
    from torch.func import functional_call

    def clone(d: dict) -> dict:
        return {n: t.clone() for n, t in d.items()}

    def alone(m: int, pp: dict, bb: dict, xx: torch.Tensor) -> torch.Tensor:
        return functional_call(base, ({n: t[m] for n, t in pp.items()}, {n: t[m] for n, t in bb.items()}), (xx,))

    def mismatch(got: torch.Tensor, want: torch.Tensor) -> bool:
        if got.shape != want.shape or not torch.isfinite(want).all():
            return True
        scale = want.flatten(1).abs().amax(1).clamp_min(1e-6)
        return bool(((got - want).flatten(1).abs().amax(1) / scale > _CHECK_TOLERANCE).any())

    base.eval()
    fwd.train(False)
    got = fwd(p, b, x, shared=False)
    want = torch.stack([alone(m, p, b, x[m]) for m in range(k)])
    if not torch.isfinite(want).all():
        return "the check's outputs are not finite"
    if mismatch(got, want):
        return "its forward mixes the members' channels"
    base.train()
    fwd.train(True)
    draws = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        draws.append(alone(0, p, clone(b), x[0]))
    if not torch.equal(*draws):
        same_p = {n: t[:1].expand_as(t).contiguous() for n, t in p.items()}
        same_b = {n: t[:1].expand_as(t).contiguous() for n, t in b.items()}
        out = fwd(same_p, same_b, x[:1].expand_as(x).contiguous(), shared=False)
        if any(torch.equal(out[0], out[m]) for m in range(1, k)):
            return "its members would share their random draws in training"
    return ""
