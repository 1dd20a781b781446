"""The vision networks (and the MLP) of :mod:`orderlab.trainer.models.vision`, where they are registered
and described: torch modules and the builders behind the registry."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from orderlab.errors import OrderlabError
from orderlab.trainer.models import ArchSpec

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
    stacked_body = "net"   # forward is exactly self.net(x): --ensemble runs it as stacked layers

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


def build_mlp(input_shape, n_classes, **info):
    return MLP(math.prod(int(s) for s in input_shape), n_classes)


# --------------------------------------------------------------------------------------- CNN


class SmallCNN(nn.Module):
    """LeNet-like: conv3×3 32 → ReLU → pool → conv3×3 64 → ReLU → pool → linear 128 → classes.

    A pool is skipped once the map is 4×4 (so 8×8 digits pool once); larger maps are average-pooled
    to 4×4 before the dense layer, which keeps it small for any image size. Flattening (rather
    than a global average) keeps where strokes are, which makes it learn digits in a few steps.
    """
    stacked_body = "net"   # forward is exactly self.net(x): --ensemble runs it as stacked layers

    def __init__(self, channels: int, side: int | tuple[int, int], n_classes: int, widths=(32, 64),
                 hidden: int = 128):
        super().__init__()
        # (height, width): an image that is not square pools by its shorter side and averages each
        # side down to 4 on its own (planning by the shorter side alone sized the dense layer for
        # 4x4 where an 8x40 image left 4x20)
        h, w = (side, side) if isinstance(side, int) else side
        layers: list[nn.Module] = []
        cin = channels
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            if min(h, w) > 4:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                h, w = math.ceil(h / 2), math.ceil(w / 2)
            cin = cout
        if h > 4 or w > 4:
            layers.append(nn.AdaptiveAvgPool2d(4 if h == w else (min(h, 4), min(w, 4))))
            h, w = min(h, 4), min(w, 4)
        layers += [nn.Flatten(), nn.Linear(cin * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_cnn(input_shape, n_classes, **info):
    c, h, w = _image_shape(input_shape, "cnn")
    return SmallCNN(c, (h, w), n_classes)


# ----------------------------------------------------------------------------------- st-VGG


class StVGG(nn.Module):
    """The small VGG of Hacohen & Weinshall's code (GUIDE §1), as their Keras model builds it.

    conv3×3 32-32 → pool → dropout .25 → 64-64 → pool → .25 → 128-128 → pool → .25 →
    conv2×2 256-256 → pool → .25 → dense 512 → dropout .5 → classes. ELU after every conv and
    the dense layer, 'same' padding, Glorot-uniform weights and zero biases (Keras' defaults),
    no batch norm (their default). Images smaller than 32×32 are upsampled to 32×32 first.
    """

    def __init__(self, channels: int, h: int, w: int, n_classes: int):
        super().__init__()
        self.size = (max(h, 32), max(w, 32)) if min(h, w) < 32 else None
        if self.size:
            h, w = self.size
        layers: list[nn.Module] = []
        cin = channels
        for cout, k in ((32, 3), (64, 3), (128, 3), (256, 2)):
            for _ in range(2):
                # Keras 'same' padding; for the 2×2 convs that is one zero row/column after.
                pad = nn.ZeroPad2d((0, 1, 0, 1)) if k == 2 else nn.Identity()
                layers += [pad, nn.Conv2d(cin, cout, k, padding=k // 2 if k == 3 else 0), nn.ELU()]
                cin = cout
            layers += [nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(0.25)]
        flat = 256 * _pooled(h, 4) * _pooled(w, 4)
        layers += [nn.Flatten(), nn.Linear(flat, 512), nn.ELU(), nn.Dropout(0.5), nn.Linear(512, n_classes)]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.net(x)


def build_st_vgg(input_shape, n_classes, **info):
    c, h, w = _image_shape(input_shape, "st-vgg")
    return StVGG(c, h, w, n_classes)


# ------------------------------------------------------------------- torchvision backbones


def _small(h: int, w: int) -> bool:
    return max(h, w) <= SMALL_IMAGE


def _adapt_stem(c: int, h: int, w: int, conv: nn.Conv2d) -> tuple[nn.Module | None, bool]:
    """The 64-channel stem for ``c`` channels: 3×3 stride 1 for small images (whose max-pool must
    then go: returns True), else ImageNet's 7×7 stride 2 (None when ``conv`` already fits)."""
    if _small(h, w):
        return nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False), True
    if c != conv.in_channels:
        return nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False), False
    return None, False


def build_resnet18(input_shape, n_classes, **info):
    from torchvision.models import resnet18

    c, h, w = _image_shape(input_shape, "resnet18")
    model = resnet18(weights=None, num_classes=n_classes)
    stem, drop_pool = _adapt_stem(c, h, w, model.conv1)
    if stem is not None:
        model.conv1 = stem
    if drop_pool:
        model.maxpool = nn.Identity()
    return model


def build_densenet(input_shape, n_classes, **info):
    from torchvision.models import densenet121

    c, h, w = _image_shape(input_shape, "densenet")
    model = densenet121(weights=None, num_classes=n_classes)
    feats = model.features
    stem, drop_pool = _adapt_stem(c, h, w, feats.conv0)
    if stem is not None:
        feats.conv0 = stem
    if drop_pool:
        feats.pool0 = nn.Identity()
    # Transitions halve the map three times; ceil-mode keeps a 1×1 map alive on tiny inputs.
    for name, mod in feats.named_children():
        if name.startswith("transition"):
            mod.pool = nn.AvgPool2d(2, stride=2, ceil_mode=True)
    return model


def build_vgg(input_shape, n_classes, **info):
    from torchvision.models import vgg16_bn

    c, h, w = _image_shape(input_shape, "vgg")
    model = vgg16_bn(weights=None, num_classes=n_classes)
    feats = model.features
    if c != 3:
        feats[0] = nn.Conv2d(c, 64, 3, padding=1)
    for i, mod in enumerate(feats):
        if isinstance(mod, nn.MaxPool2d):
            feats[i] = nn.MaxPool2d(2, stride=2, ceil_mode=True)
    if _small(h, w):
        # The CIFAR VGG head: the five pools leave 1×1×512 at 32×32; ImageNet's 7×7×512 → 4096 ×2
        # head would hold 120M weights fed by a copied 1×1 map.
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU(True),
                                         nn.Dropout(0.5), nn.Linear(512, n_classes))
    return model


# ---------------------------------------------------------------------------- tv:NAME


class InputAdapter(nn.Module):
    """Maps the dataset's images to what a torchvision model takes: 3 channels (1 channel is
    repeated, others are mixed by a learned 1×1 conv) and at least ``size`` pixels a side
    (bilinear upsampling); then runs the model and keeps the main logits of tuple outputs."""

    def __init__(self, model: nn.Module, channels: int, size: tuple[int, int] | None):
        super().__init__()
        self.channels = channels
        self.mix = nn.Conv2d(channels, 3, 1) if channels not in (1, 3) else None
        self.size = size
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 1:
            # Grouped ensemble members come as [B, K, H, W] (trainer/grouped.py): each member's one
            # channel three times. A network alone keeps the expanded view (no copy; channels-last stays).
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x.repeat_interleave(3, dim=1)
        elif self.mix is not None:
            x = self.mix(x)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        out = self.model(x)
        if isinstance(out, (tuple, list)):      # e.g. GoogLeNet/Inception outputs with aux logits
            out = out[0]
        return getattr(out, "logits", out)


# Input sides tried, smallest first, for a model that fails at the dataset's size.
_TRY_SIDES = (32, 64, 96, 128, 160, 224, 299, 384, 518)
_input_side_cache: dict[tuple[str, int, int], tuple[int, int] | None] = {}


def _tv_classification_models() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _tv_model(name: str, n_classes: int) -> nn.Module:
    import torchvision

    kwargs: dict[str, Any] = {}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    return torchvision.models.get_model(name, weights=None, num_classes=n_classes, **kwargs)


def _works(model: nn.Module, side_hw: tuple[int, int]) -> bool:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *side_hw))
        return True
    except (RuntimeError, ValueError, AssertionError, IndexError):
        return False
    finally:
        model.train(was_training)


def _input_size(name: str, model: nn.Module, h: int, w: int) -> tuple[int, int] | None:
    """None when the model takes (h, w) as it is, else the (side, side) to resize to: the smallest
    tried side ≥ the image that works, or failing that the largest smaller one (e.g. ViT's 224).

    Images below 32×32 are always upsampled to at least 32: the ImageNet stems shrink the input
    32-fold, so an 8×8 digit would be a single pixel after the first two layers."""
    key = (name, h, w)
    if key not in _input_side_cache:
        if min(h, w) >= 32 and _works(model, (h, w)):
            found = None
        else:
            bigger = [s for s in _TRY_SIDES if s > max(h, w)]
            smaller = [s for s in reversed(_TRY_SIDES) if s <= max(h, w)]
            found = next(((s, s) for s in bigger + smaller if _works(model, (s, s))), None)
            if found is None:
                raise OrderlabError(f"torchvision model {name} runs on none of the input sizes tried "
                                    f"({', '.join(map(str, _TRY_SIDES))}); pick another --arch")
        _input_side_cache[key] = found
    return _input_side_cache[key]


def torchvision_spec(name: str) -> ArchSpec:
    """``tv:NAME``: any torchvision classification model, untrained (weights are never downloaded)."""
    names = _tv_classification_models()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        examples = close or ["resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16"]
        raise OrderlabError(f"unknown torchvision model {name!r}; use tv:NAME with NAME a torchvision "
                            f"classification model, e.g. {', '.join('tv:' + n for n in examples)} "
                            f"({len(names)} in all: torchvision.models.list_models())")

    def build(input_shape, n_classes, **info):
        c, h, w = _image_shape(input_shape, f"tv:{name}")
        model = _tv_model(name, n_classes)
        return InputAdapter(model, c, _input_size(name, model, h, w))

    return ArchSpec(f"tv:{name}", f"torchvision {name} (untrained), input adapted to the dataset",
                    build, inputs=("image",), defaults={})
