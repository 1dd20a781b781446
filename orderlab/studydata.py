"""Reading a study's records out of the store as one :class:`~orderlab.analysis.stack.Stack`,
and the plain-array export format of `orderlab export`."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from orderlab.analysis.stack import Stack
from orderlab.errors import OrderlabError
from orderlab.store import RunInfo, Store

SPLITS = ("train", "test")


def load_stack(store: Store, study: str, split: str = "test", *, align: str = "strict",
               keep_predicted: bool = False, runs: Sequence[RunInfo] | None = None) -> Stack:
    """All recorded networks of ``study`` on ``split`` (runs with no checkpoint yet are skipped)."""
    if split not in SPLITS:
        raise OrderlabError(f"unknown split {split!r}; use train or test")
    pairs = store.load_records(study, list(runs) if runs is not None else None)
    if not pairs:
        raise OrderlabError(f"study {study!r} has no recorded network yet; train one with "
                            f"`orderlab train --study {study}`")
    infos = [({"run_id": r.run_id, "arch": r.arch, "seed": r.seed}, rec) for r, rec in pairs]
    return Stack.from_records(infos, split, align=align, keep_predicted=keep_predicted, study=study)


def export_arrays(stack: Stack) -> dict[str, np.ndarray]:
    """The documented export schema (README, "orderlab export")."""
    if stack.predicted is None:
        raise ValueError("export needs a stack loaded with keep_predicted=True")
    return {
        "correct": stack.correct(),                               # bool [networks, checkpoints, examples]
        "predicted": stack.predicted.astype(np.int64),            # int [same]
        "arch": stack.arch.astype(str),                           # str [networks]
        "seed": stack.seed.astype(np.int64),                      # int64 [networks]
        "run_id": stack.run_id.astype(str),                       # str [networks]
        "epoch": stack.epoch.astype(np.float64),                  # float64 [checkpoints]
        "example_id": stack.example_id.astype(np.int64),          # int64 [examples]
        "label": stack.label.astype(np.int64),                    # int64 [examples]
    }


def export_study(store: Store, study: str, split: str = "test", *, align: str = "strict"
                 ) -> dict[str, np.ndarray]:
    """Python API of `orderlab export`: the same arrays, without a file."""
    return export_arrays(load_stack(store, study, split, align=align, keep_predicted=True))


def write_export(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise OrderlabError(f"export file must end in .npz (got {path.name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path
