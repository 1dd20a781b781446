"""Image datasets (and ``npz:PATH`` for a user's own arrays).

* ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, embedded, no download), split
  once into 1,347 train / 450 test, stratified by class with ``random_state=0`` (the split
  ``train_test_split(..., test_size=450, stratify=y, random_state=0)`` gives; it never changes).
* ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` files in /usr/share/datasets/fashion-mnist/
  when installed, otherwise torchvision's layout ``DATA_DIR/FashionMNIST/raw/*-ubyte[.gz]``.
* ``mnist``: ``DATA_DIR/MNIST/raw/*-ubyte[.gz]``.
* ``cifar10`` / ``cifar100``: the official python batches ``DATA_DIR/cifar-10-batches-py/`` and
  ``DATA_DIR/cifar-100-python/``, read directly (no md5 check, so subsets of the files work too).
* ``npz:PATH``: arrays ``x_train, y_train, x_test, y_test``; images [N,H,W], [N,H,W,C] or [N,C,H,W],
  or flat features [N,D].

``DATA_DIR`` is ``--data-dir``, by default ``~/.cache/orderlab/data``. ``--download`` fetches the
torchvision datasets there (torchvision is imported only then). Images are scaled to [0, 1] and
normalised per channel with the train split's mean and std (recorded on the Dataset).
"""
from __future__ import annotations

import gzip
import pickle
import zipfile
from pathlib import Path

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.trainer.data import Dataset, LoadOptions, missing_data_error, register

DEFAULT_DATA_DIR = Path("~/.cache/orderlab/data")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck"]


def data_dir(opts: LoadOptions) -> Path:
    return Path(opts.data_dir or DEFAULT_DATA_DIR).expanduser()


def normalise_images(name: str, x_train: np.ndarray, y_train, x_test: np.ndarray, y_test,
                     class_names: list[str], *, augment: bool, flip_ok: bool, description: str = ""
                     ) -> Dataset:
    """float32 [N,C,H,W] in [0,1] -> Dataset normalised per channel with the train statistics."""
    mean = x_train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x_train.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 1e-8, std, 1.0)   # a constant channel stays constant instead of dividing by 0
    m, s = mean.astype(np.float32)[:, None, None], std.astype(np.float32)[:, None, None]
    return Dataset(name=name, kind="image",
                   x_train=((x_train - m) / s).astype(np.float32), y_train=np.asarray(y_train, np.int64),
                   x_test=((x_test - m) / s).astype(np.float32), y_test=np.asarray(y_test, np.int64),
                   n_classes=len(class_names), class_names=class_names,
                   mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
                   augment_default=augment, flip_ok=flip_ok, description=description)


# ------------------------------------------------------------------------------------ digits


@register("digits", "scikit-learn handwritten digits, 1×8×8, 10 classes, 1,347 train / 450 test (embedded)")
def load_digits(opts: LoadOptions) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]        # pixel values are 0..16
    y = d.target.astype(np.int64)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=450, stratify=y, random_state=0)
    idx_train, idx_test = np.sort(idx_train), np.sort(idx_test)
    return normalise_images("digits", x[idx_train], y[idx_train], x[idx_test], y[idx_test],
                            [str(i) for i in range(10)], augment=False, flip_ok=False,
                            description="scikit-learn digits (UCI optdigits test set), stratified split")
