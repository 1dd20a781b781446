"""Datasets: one registry, loaders in the modules listed in ``_LOADER_MODULES``.

A loader returns the *full* splits as NumPy arrays; :func:`load_dataset` then draws the
class-balanced subsets (fixed by ``data_seed``) that every network of a study shares.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.plugins import import_present
from orderlab.record import split_fingerprint

# Modules that register datasets when imported (kept lazy: some import torchvision).
_LOADER_MODULES = [
    "orderlab.trainer.data.images",
    "orderlab.trainer.data.benchmarks",
    "orderlab.trainer.data.synthetic",
    "orderlab.trainer.data.text",
]


@dataclass
class Dataset:
    """Both splits of a dataset, in memory, ready for the device.

    kind "image":    x float32 [N, C, H, W], already normalised (mean/std below are per channel)
    kind "features": x float32 [N, D], standardised
    kind "text":     x int64 [N, L] token ids, 0 = padding (vocab_size below); texts_* hold the raw text
    """

    name: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    id_train: np.ndarray | None = None      # indices into the full original split
    id_test: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment_default: bool = False           # random crop (+ flip when flip_ok) for natural images
    flip_ok: bool = True
    vocab_size: int = 0
    texts_train: list[str] | None = None
    texts_test: list[str] | None = None
    description: str = ""

    def __post_init__(self):
        # Labels index the classes: one outside them (a damaged labels file) would fail only in
        # training, as FAILED runs. Every loader's dataset is made here.
        for split, y in (("train", self.y_train), ("test", self.y_test)):
            y = np.asarray(y)
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise OrderlabError(f"{self.name}: {split} labels run {int(y.min())}..{int(y.max())}, outside the "
                                    f"{self.n_classes} classes 0..{self.n_classes - 1}; replace the files with the "
                                    f"original ones")
        if self.id_train is None:
            self.id_train = np.arange(len(self.y_train), dtype=np.int64)
        if self.id_test is None:
            self.id_test = np.arange(len(self.y_test), dtype=np.int64)
        if not self.class_names:
            self.class_names = [str(i) for i in range(self.n_classes)]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, example_id) of split ``train`` or ``test``."""
        if name == "train":
            return self.x_train, self.y_train, self.id_train
        if name == "test":
            return self.x_test, self.y_test, self.id_test
        raise OrderlabError(f"unknown split {name!r}; use train or test")

    def fingerprint(self, split: str) -> str:
        x, y, ids = self.split(split)
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
        return split_fingerprint(self.name, split, ids, y, digest)

    def thumbnails(self, split: str, max_count: int = 2000) -> dict[str, np.ndarray]:
        """Small pictures (uint8 [M, H<=32, W<=32, C]) or texts of the split's first examples."""
        x, _, ids = self.split(split)
        m = min(max_count, len(ids))
        if self.kind == "text":
            texts = (self.texts_train if split == "train" else self.texts_test) or []
            return {"example_id": ids[:m], "text": np.array([t[:300] for t in texts[:m]], dtype=str)}
        if self.kind != "image":
            return {}
        imgs = x[:m].astype(np.float32)
        if self.mean and self.std:
            imgs = imgs * np.array(self.std, np.float32)[:, None, None] + np.array(self.mean, np.float32)[:, None, None]
        lo, hi = float(imgs.min()), float(imgs.max())
        imgs = (imgs - lo) / max(hi - lo, 1e-6) if (lo < 0 or hi > 1) else imgs
        imgs = np.clip(imgs, 0, 1)
        h = imgs.shape[2]
        if h > 32:  # area-downsample by an integer factor, then crop to <= 32
            f = int(np.ceil(h / 32))
            c, hh, ww = imgs.shape[1], (imgs.shape[2] // f) * f, (imgs.shape[3] // f) * f
            imgs = imgs[:, :, :hh, :ww].reshape(m, c, hh // f, f, ww // f, f).mean(axis=(3, 5))
            imgs = imgs[:, :, :32, :32]
        return {"example_id": ids[:m], "image": (imgs.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)}


Loader = Callable[["LoadOptions"], Dataset]


@dataclass
class LoadOptions:
    arg: str | None = None                  # the part after "name:" (e.g. a path)
    data_dir: Path | None = None
    download: bool = False
    seed: int = 0                           # --data-seed, for generated data


@dataclass
class DatasetSpec:
    name: str
    description: str
    loader: Loader
    takes_arg: bool = False
    arg_help: str = ""
    arg_optional: bool = False              # e.g. gaussians or gaussians:dim=20,classes=5


DATASETS: dict[str, DatasetSpec] = {}
_loaded = False


def register(name: str, description: str, takes_arg: bool = False, arg_help: str = "",
             arg_optional: bool = False):
    """Decorator for a loader ``fn(opts: LoadOptions) -> Dataset``."""
    def deco(fn: Loader) -> Loader:
        DATASETS[name] = DatasetSpec(name, description, fn, takes_arg or arg_optional, arg_help, arg_optional)
        return fn
    return deco


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        import_present(_LOADER_MODULES)
        _loaded = True


def dataset_specs() -> list[DatasetSpec]:
    _ensure_loaded()
    return list(DATASETS.values())


def parse_name(spec: str) -> tuple[DatasetSpec, str | None]:
    _ensure_loaded()
    name, _, arg = spec.partition(":")
    if name not in DATASETS:
        valid = ", ".join(n + (f"[:{d.arg_help or 'ARGS'}]" if d.arg_optional else
                                 f":{d.arg_help or 'PATH'}" if d.takes_arg else "") for n, d in DATASETS.items())
        raise OrderlabError(f"unknown dataset {spec!r}; valid datasets: {valid} (see `orderlab datasets`)")
    ds = DATASETS[name]
    if ds.takes_arg and not arg and not ds.arg_optional:
        raise OrderlabError(f"dataset {name} needs an argument: {name}:{ds.arg_help or 'PATH'}")
    if not ds.takes_arg and arg:
        raise OrderlabError(f"dataset {name} takes no ':' argument (got {spec!r})")
    return ds, (arg or None)


def balanced_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a class-balanced subset of size ``n`` (sorted), reproducible from ``seed``."""
    if n >= len(y):
        return np.arange(len(y), dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    # Round-robin over classes so every class gets n // K (+1 for the first n % K classes).
    take = np.zeros(len(classes), dtype=np.int64)
    remaining = n
    while remaining > 0:
        open_ = [i for i in range(len(classes)) if take[i] < len(per_class[i])]
        if not open_:
            break
        for i in open_:
            if remaining == 0:
                break
            take[i] += 1
            remaining -= 1
    idx = np.concatenate([p[:t] for p, t in zip(per_class, take)])
    return np.sort(idx).astype(np.int64)


def load_dataset(spec: str, *, data_dir: str | Path | None = None, download: bool = False,
                 train_subset: int | None = None, test_subset: int | None = None,
                 data_seed: int = 0, strict_subsets: bool = False) -> Dataset:
    """Load ``spec`` (e.g. ``digits``, ``npz:/path/file.npz``) and draw the study's subsets.

    ``strict_subsets`` (a new study): refuse a subset larger than its split (otherwise the whole
    split, as studies made before this check were trained) or smaller than its classes."""
    ds_spec, arg = parse_name(spec)
    opts = LoadOptions(arg=arg, data_dir=Path(data_dir).expanduser() if data_dir else None,
                       download=download, seed=data_seed)
    if opts.data_dir is not None and opts.data_dir.exists() and not opts.data_dir.is_dir():
        # (the loaders' "not found under FILE/MNIST/raw; put the files there" could not be followed)
        raise OrderlabError(f"--data-dir {opts.data_dir} is a file, not a folder; point --data-dir at the folder "
                            f"that holds the data (or one to download it into)")
    ds = ds_spec.loader(opts)
    ds = replace(ds, name=spec)
    for which, n in (("train", train_subset), ("test", test_subset)):
        if n is None:
            continue
        if n <= 0:
            raise OrderlabError(f"--{which}-subset must be positive (got {n})")
        x, y, ids = ds.split(which)
        if strict_subsets and n > len(y):
            raise OrderlabError(f"--{which}-subset {n} is more than the {len(y)} {which} examples of {spec}; "
                                f"leave it out to use them all")
        k = len(np.unique(y))
        if strict_subsets and n < k:
            raise OrderlabError(f"--{which}-subset {n} is fewer than the {k} classes of {spec}'s {which} split; a "
                                f"class-balanced subset needs at least {k} examples")
        idx = balanced_subset(y, n, data_seed + (0 if which == "train" else 1))
        texts = ds.texts_train if which == "train" else ds.texts_test
        new_texts = [texts[i] for i in idx] if texts is not None else None
        if which == "train":
            ds = replace(ds, x_train=x[idx], y_train=y[idx], id_train=ids[idx], texts_train=new_texts)
        else:
            ds = replace(ds, x_test=x[idx], y_test=y[idx], id_test=ids[idx], texts_test=new_texts)
    return ds


@contextmanager
def tidy_failed_download(root: Path):
    """Folders a failed ``--download`` made under ``root`` (two levels: torchvision makes
    ``MNIST/raw/`` before it fetches) are removed again if left empty: an empty dataset folder would
    look like data that is there, and hide the real state from the user. Two levels only, so a data
    folder holding ImageNet is not walked."""
    def dirs() -> set[Path]:
        if not root.is_dir():
            return set()
        first = [p for p in root.iterdir() if p.is_dir()]
        return set(first) | {q for p in first for q in p.iterdir() if q.is_dir()}
    existed, before = root.is_dir(), dirs()
    try:
        yield
    except BaseException:
        for p in sorted(dirs() - before, key=lambda p: len(p.parts), reverse=True) + ([] if existed else [root]):
            try:
                p.rmdir()               # only if empty: whatever the download did write stays
            except OSError:
                pass
        raise


def missing_data_error(name: str, where: Path | str, flag_hint: str = "--download") -> OrderlabError:
    # (--data-dir may be the one given: "pass --data-dir DIR" read as if it had not been)
    return OrderlabError(f"{name} not found under {where}; put the files there (or point --data-dir at the folder "
                         f"that holds them), or add {flag_hint} to fetch them")
