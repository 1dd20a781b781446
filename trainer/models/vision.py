"""Vision architectures (and the MLP), adapted to the dataset's channels, image size and classes.

Every builder takes ``(input_shape, n_classes, **info)`` and returns an ``nn.Module`` mapping a
float batch ``[B, *input_shape]`` to logits ``[B, n_classes]``; ``info`` (e.g. ``vocab_size``)
is for text models and ignored here.

Adapting to image size (8×8 digits up to ImageNet sizes):

* Images of at most 32×32 get the usual small-image stem in ``resnet18``, ``densenet`` and
  ``vgg``: a 3×3 stride-1 first convolution and no initial max-pool (as in CIFAR ResNets), so
  an 8×8 digit is not reduced to 2×2 by the stem alone.
* Pooling stages use ``ceil_mode=True``, so a 1×1 map stays 1×1 instead of vanishing: st-VGG
  on 8×8 pools 8→4→2→1→1 and keeps its four blocks and their widths exactly; VGG-16's five
  pools do the same. Heads use adaptive average pooling or a flat size computed from the input.
* ``tv:NAME`` models that need a larger input than given (AlexNet, Inception-v3, ViT, …)
  upsample inside the module to the smallest size that works (found once per model by trial).

Evaluation is deterministic in ``model.eval()``: dropout is off and batch norm uses running
statistics. ``mlp`` and ``cnn`` have neither (no buffers: they learn within a few steps, evaluate
well at once, and vectorise over an ensemble without batch-norm state).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from orderlab.errors import OrderlabError
from orderlab.trainer.models import ArchSpec, register_arch

SMALL_IMAGE = 32   # images up to this side get small-image stems


def _image_shape(input_shape, arch: str) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise OrderlabError(f"architecture {arch} takes images [C, H, W], got inputs of shape "
                            f"{tuple(input_shape)}; use --arch mlp for flat features")
    c, h, w = (int(s) for s in input_shape)
    return c, h, w


def _pooled(size: int, times: int) -> int:
    """Side after ``times`` 2×2 ceil-mode max-pools."""
    for _ in range(times):
        size = math.ceil(size / 2)
    return size


# --------------------------------------------------------------------------------------- MLP


class MLP(nn.Module):
    def __init__(self, in_features: int, n_classes: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_arch("mlp", "multilayer perceptron: flatten → 256 → 256 (ReLU) → classes; images or features",
               inputs=("image", "features"), optimizer="adam", lr=3e-3, weight_decay=1e-4, batch_size=32)
def build_mlp(input_shape, n_classes, **info):
    return MLP(math.prod(int(s) for s in input_shape), n_classes)


# --------------------------------------------------------------------------------------- CNN


class SmallCNN(nn.Module):
    """LeNet-like: conv3×3 32 → ReLU → pool → conv3×3 64 → ReLU → pool → linear 128 → classes.

    A pool is skipped once the map is 4×4 (so 8×8 digits pool once); larger maps are average-pooled
    to 4×4 before the dense layer, which keeps it small for any image size. Flattening (rather
    than a global average) keeps where strokes are, which makes it learn digits in a few steps.
    """

    def __init__(self, channels: int, side: int, n_classes: int, widths=(32, 64), hidden: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            if side > 4:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                side = math.ceil(side / 2)
            cin = cout
        if side > 4:
            layers.append(nn.AdaptiveAvgPool2d(4))
            side = 4
        layers += [nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_arch("cnn", "small LeNet-like conv net: 3×3 convs 32-64 (ReLU, max-pool) → dense 128 → classes",
               inputs=("image",), optimizer="adam", lr=3e-3, weight_decay=1e-4, batch_size=32)
def build_cnn(input_shape, n_classes, **info):
    c, h, w = _image_shape(input_shape, "cnn")
    return SmallCNN(c, min(h, w), n_classes)
