"""Architectures: one registry; builders live in the modules of ``_ARCH_MODULES``.

Those modules register without importing torch (their networks live in ``vision_nets`` and
``text_nets``, imported when one is built), so listing and checking architectures, as ``orderlab
sweep``'s main process and the TUI do, costs no torch import.

An architecture is either a torch network (``kind="torch"``: ``build(input_shape, n_classes)``
returns an ``nn.Module`` mapping a batch of inputs to logits) or a scikit-learn learner
(``kind="sklearn"``, trained by :mod:`orderlab.trainer.learners`). ``defaults`` are the
hyperparameters that make it learn well out of the box; CLI options override them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from orderlab.errors import OrderlabError
from orderlab.plugins import import_present

_ARCH_MODULES = [
    "orderlab.trainer.models.vision",
    "orderlab.trainer.models.text",
    "orderlab.trainer.learners",
]

# Training defaults shared by torch architectures unless an ArchSpec overrides them.
BASE_DEFAULTS: dict[str, Any] = {
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "epochs": 10,
    "schedule": "cosine",      # cosine | step-vgg (x1/1.5 every 300 batches, floor 1e-4) | constant
}


@dataclass
class ArchSpec:
    name: str
    description: str
    build: Callable[..., Any]
    kind: str = "torch"                                  # torch | sklearn
    inputs: tuple[str, ...] = ("image", "features")      # dataset kinds it accepts
    defaults: dict[str, Any] = field(default_factory=dict)

    def hyperparameters(self) -> dict[str, Any]:
        return {**BASE_DEFAULTS, **self.defaults}


ARCHS: dict[str, ArchSpec] = {}
_loaded = False


def register_arch(name: str, description: str, *, kind: str = "torch",
                  inputs: tuple[str, ...] = ("image", "features"), **defaults: Any):
    def deco(fn):
        ARCHS[name] = ArchSpec(name, description, fn, kind, inputs, defaults)
        return fn
    return deco


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        import_present(_ARCH_MODULES)
        _loaded = True


def arch_specs() -> list[ArchSpec]:
    _ensure_loaded()
    return list(ARCHS.values())


def get_arch(name: str) -> ArchSpec:
    """The spec of ``name``; ``tv:NAME`` wraps any torchvision classification model."""
    _ensure_loaded()
    if name.startswith("tv:"):
        from orderlab.trainer.models.vision_nets import torchvision_spec
        return torchvision_spec(name[3:])
    if name not in ARCHS:
        valid = ", ".join(list(ARCHS) + ["tv:NAME"])
        raise OrderlabError(f"unknown architecture {name!r}; valid architectures: {valid} "
                            f"(see `orderlab archs`)")
    return ARCHS[name]


def check_compatible(spec: ArchSpec, dataset_kind: str, dataset_name: str) -> None:
    if dataset_kind not in spec.inputs:
        raise OrderlabError(f"architecture {spec.name} takes {'/'.join(spec.inputs)} data, but dataset "
                            f"{dataset_name} is {dataset_kind} data; pick another --arch or --dataset")
