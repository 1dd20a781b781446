"""On-device evaluation for the correctness record.

Results of every batch stay on the device in preallocated tensors; the host sees them once, at
the end of the checkpoint (one synchronisation), never per batch or per example.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch


def autocast_for(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def evaluate_on_device(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024,
                       amp: bool = False, channels_last: bool = False
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(correct bool [N], predicted int64 [N], p_true float32 [N]), all still on the device."""
    n = x.shape[0]
    device = x.device
    pred = torch.empty(n, dtype=torch.int64, device=device)
    p_true = torch.empty(n, dtype=torch.float32, device=device)
    was_training = model.training
    model.eval()
    try:
        with autocast_for(device, amp):
            for i in range(0, n, batch_size):
                xb = x[i:i + batch_size]
                if channels_last and xb.dim() == 4:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                logits = model(xb).float()
                probs = torch.softmax(logits, dim=1)
                pred[i:i + batch_size] = logits.argmax(dim=1)
                p_true[i:i + batch_size] = probs.gather(1, y[i:i + batch_size, None]).squeeze(1)
    finally:
        model.train(was_training)
    return pred == y, pred, p_true


def to_host(results: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
            ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Move a checkpoint's results to the host in one go (a single device synchronisation)."""
    names = list(results)
    flat = [t for k in names for t in results[k]]
    if flat and flat[0].device.type != "cpu":
        # One copy stream: concatenate per dtype would save little; non_blocking + one sync.
        flat = [t.to("cpu", non_blocking=True) for t in flat]
        torch.cuda.synchronize(results[names[0]][0].device)
    out = {}
    for i, k in enumerate(names):
        c, p, pt = flat[3 * i:3 * i + 3]
        out[k] = (c.numpy(), p.numpy(), pt.numpy())
    return out
