"""Stacked layers: K members of a plain sequential network as batched matmuls and grouped convolutions.

``torch.func.vmap`` over ``functional_call`` runs any architecture, but on the small shapes of
``mlp`` and ``cnn`` its Python dispatch (re-binding every parameter, batching rules per op) costs
as much as the arithmetic. A model whose ``forward`` is exactly one ``nn.Sequential`` (it says so
with a class attribute ``stacked_body = "net"``) of the layers below runs here instead, on the
very same stacked parameters the vmap path uses (``[K, *shape]`` under the solo state-dict names):

* ``Linear``: ``baddbmm`` over activations ``[K, B, F]``, with a backward written as each member's
  ``addmm`` backward alone (on the CPU the same arithmetic, so ``mlp`` members stay bit-identical to
  networks trained alone, with the optimiser step and the recorded loss kept exact by
  :mod:`orderlab.trainer.ensemble`; autograd's own backward would also copy every weight gradient,
  ~30% of a step).
  Evaluation of networks without convolutions, on the CPU, runs member by member instead (each
  with its own ``nn.Linear`` arithmetic): on evaluation's large batches one member's activations
  stay in cache through all its layers, about 1.5x faster than batched products layer by layer;
* ``Conv2d``: one grouped convolution over activations ``[B, K*C, H, W]`` in channels-last layout
  (oneDNN's fast path for grouped convolutions and pooling on the CPU);
* ``ReLU``, ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``Identity``: per channel or
  elementwise, so they run on the grouped activations unchanged;
* ``Flatten``: each member's ``[C, H, W]`` in the order of the network alone, to ``[K, B, C*H*W]``.

Anything else (batch norm, dropout, residual blocks, a custom forward) has no plan here: it trains
as grouped layers (:mod:`orderlab.trainer.grouped`) or under vmap.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CHANNELWISE = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Identity)

# Activation layouts while planning and running.
_INPUT, _GROUPED, _BATCHED = "input", "grouped", "batched"


def stacked_plan(model: nn.Module, input_dims: int) -> list[tuple[str, nn.Module]] | None:
    """The layers of ``model`` with their parameter-name prefixes, if it can run stacked (else None).

    ``input_dims`` is the number of dimensions of one example (3 for images, 1 for features).
    """
    body = getattr(type(model), "stacked_body", None)
    seq = getattr(model, body, None) if body else None
    if not isinstance(seq, nn.Sequential):
        return None
    layout = _INPUT
    layers = []
    for name, layer in seq.named_children():
        if isinstance(layer, nn.Linear):
            if layout != _BATCHED:
                return None
        elif isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros" or layout == _BATCHED or (layout == _INPUT and input_dims != 3):
                return None
            layout = _GROUPED
        elif isinstance(layer, _CHANNELWISE):
            if layout == _INPUT and not isinstance(layer, (nn.ReLU, nn.Identity)):
                if input_dims != 3:
                    return None
                layout = _GROUPED
        elif isinstance(layer, nn.Flatten):
            if (layer.start_dim, layer.end_dim) != (1, -1):
                return None
            layout = _BATCHED
        else:
            return None
        layers.append((f"{body}.{name}.", layer))
    return layers if layout == _BATCHED else None


class _StackedLinear(torch.autograd.Function):
    """``x @ w.T + b`` per member: x [K, B, in], w [K, out, in], b [K, out] or None.

    The backward is ``nn.Linear``'s, batched: grad_w = grad^T @ x comes out in the weights' own
    ``[K, out, in]`` layout (autograd's ``baddbmm`` backward gives it transposed, and accumulating
    it then costs a full copy per weight per step)."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        wt = w.transpose(1, 2)
        return torch.bmm(x, wt) if b is None else torch.baddbmm(b.unsqueeze(1), x, wt)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        # Under autocast (bf16 on GPUs) the forward ran in the gradient's dtype: the backward
        # does too, and hands each input a gradient of its own dtype.
        dt = grad.dtype
        gx = torch.bmm(grad, w.to(dt)).to(x.dtype) if ctx.needs_input_grad[0] else None
        gw = torch.bmm(grad.transpose(1, 2), x.to(dt)).to(w.dtype) if ctx.needs_input_grad[1] else None
        gb = grad.sum(1).to(w.dtype) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


class StackedForward:
    """``forward(params, x, shared)`` for K members following one :func:`stacked_plan`."""

    def __init__(self, layers: list[tuple[str, nn.Module]], k: int):
        self.layers = layers
        self.k = k
        self.has_conv = any(isinstance(layer, nn.Conv2d) for _, layer in layers)

    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor, shared: bool) -> torch.Tensor:
        """Logits ``[K, B, classes]``; ``x`` is ``[K, B, ...]`` or, with ``shared``, ``[B, ...]``."""
        if shared and not self.has_conv and x.device.type == "cpu" and not torch.is_grad_enabled():
            return torch.stack([self._member(params, x, m) for m in range(self.k)])
        k = self.k
        layout = _INPUT
        h = x
        for prefix, layer in self.layers:
            if isinstance(layer, nn.Linear):
                h = _StackedLinear.apply(h, params[prefix + "weight"], params.get(prefix + "bias"))
                continue
            if isinstance(layer, nn.Flatten):
                if layout == _GROUPED:
                    bsz = h.shape[0]
                    h = h.contiguous().view(bsz, k, -1).transpose(0, 1)     # [K, B, C*H*W], solo order
                elif shared:
                    h = h.flatten(1).unsqueeze(0).expand(k, -1, -1)
                else:
                    h = h.flatten(2)
                layout = _BATCHED
                continue
            if layout == _INPUT and not isinstance(layer, (nn.ReLU, nn.Identity)):
                h = self._grouped(h, shared)
                layout = _GROUPED
            if isinstance(layer, nn.Conv2d):
                w = params[prefix + "weight"]                       # [K, out, in/groups, kh, kw]
                b = params.get(prefix + "bias")
                h = F.conv2d(h, w.flatten(0, 1), None if b is None else b.flatten(), layer.stride, layer.padding,
                             layer.dilation, groups=k * layer.groups)
            else:
                h = layer(h)
        return h

    def _member(self, params: dict[str, torch.Tensor], x: torch.Tensor, m: int) -> torch.Tensor:
        """Member ``m`` alone on ``x`` [B, ...], as its own network computes it."""
        h = x
        for prefix, layer in self.layers:
            w, b = params.get(prefix + "weight"), params.get(prefix + "bias")
            if isinstance(layer, nn.Linear):
                h = F.linear(h, w[m], None if b is None else b[m])
            elif isinstance(layer, nn.Conv2d):
                h = F.conv2d(h, w[m], None if b is None else b[m], layer.stride, layer.padding, layer.dilation,
                             layer.groups)
            else:
                h = layer(h)
        return h

    def _grouped(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """[K, B, C, H, W] (or shared [B, C, H, W]) to [B, K*C, H, W], channels-last."""
        if shared:
            g = x.repeat(1, self.k, 1, 1)
        else:
            kk, bsz, c, hh, ww = x.shape
            g = x.transpose(0, 1).reshape(bsz, kk * c, hh, ww)
        return g.contiguous(memory_format=torch.channels_last)
