"""Modules that register what they hold when imported: the CLI's commands, the architectures, the
datasets."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterable


def import_present(names: Iterable[str]) -> list[ModuleType]:
    """Import each module of ``names`` that is installed, in order. A module that is itself absent
    is skipped (an install may leave one out); one whose own imports fail raises, since that is a
    broken dependency, not an absent part."""
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return found
