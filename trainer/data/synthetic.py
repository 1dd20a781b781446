"""Synthetic datasets, the paper's control (claim 5: synthetic data can break the shared order).

* ``gaussians[:dim=20,classes=5,sep=2,n=3000,test=1000]``: a Gaussian mixture. Class ``c`` has
  mean ``sep / sqrt(2) * u_c`` with ``u_c`` orthonormal directions, so two class means lie ``sep``
  noise standard deviations apart (when classes > dim, ``u_c`` are random unit vectors and the
  distances vary); the noise is ``N(0, I)``. Every class gets the same number of examples.
* ``random-labels:BASE``: BASE (any dataset name) with its labels shuffled once, train and test
  each by its own permutation (class counts are kept); networks can only memorise it.
* ``teacher:BASE``: BASE's inputs, labelled by a random one-hidden-layer tanh network (the
  teacher) with per-class biases tuned so the classes stay balanced; the labels are a smooth
  function of the input that no architecture was designed for.

All three are reproducible from ``--data-seed`` (``LoadOptions.seed``); the base dataset is loaded
with the same ``--data-dir``/``--download``.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.trainer.data import Dataset, LoadOptions, load_dataset, register


def parse_kv(arg: str | None, defaults: dict, dataset: str) -> dict:
    """``"dim=20,classes=5"`` -> defaults updated with typed values (the defaults' types)."""
    out = dict(defaults)
    if not arg:
        return out
    for part in arg.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in defaults:
            raise OrderlabError(f"bad {dataset} option {part!r}; use KEY=VALUE with KEY in "
                                f"{', '.join(defaults)} (e.g. {dataset}:"
                                f"{','.join(f'{k}={v}' for k, v in list(defaults.items())[:2])})")
        kind = "an integer" if isinstance(defaults[key], int) else "a finite number"
        try:
            val = type(defaults[key])(value.strip())
        except ValueError:
            val = None
        if val is None or (isinstance(val, float) and not math.isfinite(val)):   # nan < 0 is False
            raise OrderlabError(f"bad {dataset} option {part!r}: {key} must be {kind} "
                                f"(e.g. {dataset}:{key}={defaults[key]})")
        out[key] = val
    return out


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x_train.mean(axis=0, keepdims=True)
    sd = x_train.std(axis=0, keepdims=True) + 1e-6
    return ((x_train - mu) / sd).astype(np.float32), ((x_test - mu) / sd).astype(np.float32)


GAUSSIAN_DEFAULTS = {"dim": 20, "classes": 5, "sep": 2.0, "n": 3000, "test": 1000}


@register("gaussians", "Gaussian mixture (synthetic control): dim, classes, separation, size; from --data-seed",
          arg_help="dim=20,classes=5,sep=2,n=3000,test=1000", arg_optional=True)
def load_gaussians(opts: LoadOptions) -> Dataset:
    p = parse_kv(opts.arg, GAUSSIAN_DEFAULTS, "gaussians")
    dim, k, sep, n, n_test = p["dim"], p["classes"], p["sep"], p["n"], p["test"]
    # sep beyond 1000 noise deviations is separable many times over, and near 1e300 the
    # standardised features overflow: bounded, the check names the range.
    if dim < 1 or k < 2 or n < k or n_test < k or not 0 <= sep <= 1000:
        raise OrderlabError(f"bad gaussians options {p}: need dim >= 1, classes >= 2, n and test >= classes, "
                            f"0 <= sep <= 1000")
    rng = np.random.default_rng([opts.seed, 0x6A55])
    if k <= dim:   # orthonormal directions: all pairs of means exactly `sep` apart
        q, _ = np.linalg.qr(rng.standard_normal((dim, k)))
        dirs = q.T
    else:
        dirs = rng.standard_normal((k, dim))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    means = dirs * (sep / np.sqrt(2.0))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(count) % k
        y = y[rng.permutation(count)]
        x = means[y] + rng.standard_normal((count, dim))
        return x, y.astype(np.int64)

    x_tr, y_tr = draw(n)
    x_te, y_te = draw(n_test)
    x_tr, x_te = standardise(x_tr, x_te)
    return Dataset("gaussians", "features", x_tr, y_tr, x_te, y_te, k,
                   description=f"Gaussian mixture: {k} classes in {dim} dimensions, means {sep} std apart")


def _load_base(opts: LoadOptions, what: str) -> Dataset:
    if not opts.arg:
        raise OrderlabError(f"{what} needs a base dataset: {what}:BASE (e.g. {what}:digits)")
    return load_dataset(opts.arg, data_dir=opts.data_dir, download=opts.download, data_seed=opts.seed)


@register("random-labels", "BASE with its labels shuffled once (memorisation control); from --data-seed",
          takes_arg=True, arg_help="BASE")
def load_random_labels(opts: LoadOptions) -> Dataset:
    base = _load_base(opts, "random-labels")
    rng = np.random.default_rng([opts.seed, 0x5EED])
    y_tr = base.y_train[rng.permutation(len(base.y_train))]
    y_te = base.y_test[rng.permutation(len(base.y_test))]
    return replace(base, y_train=y_tr, y_test=y_te,
                   description=f"{base.name} with labels shuffled once (seed {opts.seed})")


@register("teacher", "BASE's inputs labelled by a random network (synthetic control); from --data-seed",
          takes_arg=True, arg_help="BASE")
def load_teacher(opts: LoadOptions) -> Dataset:
    base = _load_base(opts, "teacher")
    if base.kind == "text":
        raise OrderlabError(f"teacher:{opts.arg}: the random teacher needs image or features data, "
                            f"not text; pick another base dataset")
    k = base.n_classes
    x_tr = base.x_train.reshape(len(base.x_train), -1).astype(np.float32)
    x_te = base.x_test.reshape(len(base.x_test), -1).astype(np.float32)
    rng = np.random.default_rng([opts.seed, 0x7EAC])
    d, hidden = x_tr.shape[1], 64
    w1 = rng.standard_normal((d, hidden)).astype(np.float32) / np.sqrt(d)
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = rng.standard_normal((hidden, k)).astype(np.float32) * (3.0 / np.sqrt(hidden))

    def logits(x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ w1 + b1) @ w2

    z_tr, z_te = logits(x_tr), logits(x_te)
    # A random network's argmax is usually dominated by one or two classes: shift the class
    # biases (on the train split) until every class takes about 1/k of it.
    bias = np.zeros(k, np.float32)
    target = len(z_tr) / k
    for _ in range(300):
        counts = np.bincount(np.argmax(z_tr + bias, axis=1), minlength=k)
        if counts.min() >= 0.9 * target and counts.max() <= 1.1 * target:
            break
        bias -= 0.1 * np.log((counts + 1.0) / target) * z_tr.std()
    y_tr = np.argmax(z_tr + bias, axis=1).astype(np.int64)
    y_te = np.argmax(z_te + bias, axis=1).astype(np.int64)
    return replace(base, y_train=y_tr, y_test=y_te, class_names=[f"t{c}" for c in range(k)],
                   description=f"{base.name} inputs labelled by a random network (seed {opts.seed})")
