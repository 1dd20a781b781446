"""Image datasets (and ``npz:PATH`` for a user's own arrays).

* ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, embedded, no download), split
  once into 1,347 train / 450 test, stratified by class with ``random_state=0`` (the split
  ``train_test_split(..., test_size=450, stratify=y, random_state=0)`` gives, shipped as
  ``digits_test_ids.npy`` so that it never changes with scikit-learn's versions). The images are
  read from scikit-learn's own data file without importing scikit-learn, which costs ~0.9 s per
  process (every sweep worker's start-up).
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
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.trainer.data import Dataset, LoadOptions, missing_data_error, register, tidy_failed_download

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
    pixels, labels = digits_arrays()
    x = (pixels.reshape(-1, 8, 8).astype(np.float32) / 16.0)[:, None]        # pixel values are 0..16
    y = labels.astype(np.int64)
    idx_test = np.load(Path(__file__).with_name("digits_test_ids.npy")).astype(np.int64)
    idx_train = np.setdiff1d(np.arange(len(y)), idx_test)
    return normalise_images("digits", x[idx_train], y[idx_train], x[idx_test], y[idx_test],
                            [str(i) for i in range(10)], augment=False, flip_ok=False,
                            description="scikit-learn digits (UCI optdigits test set), stratified split")


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (pixels [1797, 64] float64, labels [1797] int): its ``digits.csv.gz``,
    found without importing scikit-learn (``load_digits`` reads the same file); through
    ``sklearn.datasets.load_digits`` where the file is not where it has always been."""
    import importlib.util
    spec = importlib.util.find_spec("sklearn")           # finds the package without running it
    path = (Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
            if spec is not None and spec.origin else None)
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    return d.data, d.target


# --------------------------------------------------------------------- idx files (MNIST-like)


def read_idx(path: Path) -> np.ndarray:
    """An idx file (``.gz`` or raw): magic 0x00 0x00 dtype ndim, big-endian dims, then data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise OrderlabError(f"cannot read {path}: {e}; replace it with a valid idx file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise OrderlabError(f"{path} is not an idx file of unsigned bytes; replace it with the original file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise OrderlabError(f"{path} ends inside its header ({len(raw)} bytes for {ndim} dimensions); replace it "
                            f"with the original file")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        # a short file, or a header whose shape is wrong: the file alone cannot tell which
        raise OrderlabError(f"{path} holds {data.size} values where its header declares shape {dims} "
                            f"({math.prod(dims)} values): the file is truncated or its header damaged; replace it "
                            f"with the original file")
    return data.reshape(dims)


IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def find_idx(folder: Path) -> dict[str, Path] | None:
    """The four idx files in ``folder`` (each ``.gz`` or not), or None if any is missing."""
    found = {}
    for key, stem in IDX_FILES.items():
        hits = [folder / (stem + ext) for ext in (".gz", "") if (folder / (stem + ext)).is_file()]
        if not hits:
            return None
        found[key] = hits[0]
    return found


def load_idx_dataset(name: str, files: dict[str, Path], class_names: list[str], description: str) -> Dataset:
    arr = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        x, y = arr[f"x_{split}"], arr[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise OrderlabError(f"{name} {split} files disagree (images {x.shape}, labels {y.shape}) in "
                                f"{files['x_train'].parent}; replace them with the original files")
    x_train = arr["x_train"][:, None].astype(np.float32) / 255.0
    x_test = arr["x_test"][:, None].astype(np.float32) / 255.0
    return normalise_images(name, x_train, arr["y_train"], x_test, arr["y_test"], class_names,
                            augment=False, flip_ok=False, description=description)


def torchvision_download(name: str, cls_name: str, root: Path) -> None:
    """Fetch a dataset with torchvision into ``root`` (only on --download)."""
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        with tidy_failed_download(root):
            root.mkdir(parents=True, exist_ok=True)
            for train in (True, False):
                cls(str(root), train=train, download=True)
    except Exception as e:   # network errors come in many types (URLError, RuntimeError, ...)
        # torchvision's MNIST says "Error downloading X:" on one line and why on the next ones
        why = " ".join(str(e).split())[:300] or type(e).__name__
        raise OrderlabError(f"downloading {name} into {root} failed ({why}); "
                            f"check the network, or put the files there yourself") from None


def load_torchvision_idx(opts: LoadOptions, name: str, folder_name: str, class_names: list[str],
                         description: str, extra: list[Path] = ()) -> Dataset:
    root = data_dir(opts)
    raw = root / folder_name / "raw"
    for folder in [*extra, raw]:
        files = find_idx(folder)
        if files:
            return load_idx_dataset(name, files, class_names, f"{description} ({folder})")
    if opts.download:
        torchvision_download(name, folder_name, root)
        files = find_idx(raw)
        if files:
            return load_idx_dataset(name, files, class_names, f"{description} ({raw})")
    raise missing_data_error(f"{name} ({', '.join(s + '.gz' for s in IDX_FILES.values())})", raw)


@register("fashion-mnist", "Fashion-MNIST, 1×28×28, 10 classes, 60,000 / 10,000 (Debian's dataset-fashion-mnist, "
          "or DATA_DIR/FashionMNIST/raw, or --download)")
def load_fashion_mnist(opts: LoadOptions) -> Dataset:
    return load_torchvision_idx(opts, "fashion-mnist", "FashionMNIST", FASHION_CLASSES, "Fashion-MNIST",
                                extra=[DEBIAN_FASHION_MNIST])


@register("mnist", "MNIST handwritten digits, 1×28×28, 10 classes, 60,000 / 10,000 (DATA_DIR/MNIST/raw or --download)")
def load_mnist(opts: LoadOptions) -> Dataset:
    return load_torchvision_idx(opts, "mnist", "MNIST", [str(i) for i in range(10)], "MNIST")


# -------------------------------------------------------------------------------------- CIFAR


def read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch: a pickled dict with b'data' (uint8 [N, 3072]) and labels.

    The official files are pickles; they are read with a restricted unpickler that only builds
    plain containers and NumPy arrays, so a planted file cannot run code.
    """
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        raw = np.asarray(d[b"data"])
        labels = np.asarray(d[label_key.encode()], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise OrderlabError(f"cannot read CIFAR batch {path} ({type(e).__name__}: {e}); "
                            f"replace it with the original file") from None
    # pixels are bytes: anything else (floats such as 300.7) would wrap around silently in uint8
    if raw.dtype != np.uint8 and not (raw.dtype.kind in "iu" and raw.size and 0 <= raw.min() and raw.max() <= 255):
        raise OrderlabError(f"CIFAR batch {path} holds {raw.dtype} pixels, not bytes 0-255; "
                            f"replace it with the original file")
    data = raw.astype(np.uint8, copy=False)
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(data) != len(labels):
        raise OrderlabError(f"CIFAR batch {path} has data {data.shape} and labels {labels.shape}; "
                            f"expected [N, 3072] and N labels; replace it with the original file")
    return data.reshape(-1, 3, 32, 32), labels


class _SafeUnpickler(pickle.Unpickler):
    # What pickled NumPy arrays, lists and bytes need (protocols 0-5, NumPy 1 and 2 module names).
    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (f"{core}.{module}", fn) for core in ("numpy.core", "numpy._core")
        for module, fn in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_meta(path: Path, key: str, n: int) -> list[str]:
    """The ``n`` class names CIFAR keeps in ``path``; numbers when the file is not there (the
    classes are still the same). A damaged file is refused: read as numbers, the study would keep
    them for good (its thumbnails and names are stored once)."""
    if not path.is_file():
        return [str(i) for i in range(n)]
    try:
        with open(path, "rb") as f:
            names = _SafeUnpickler(f, encoding="bytes").load()[key.encode()]
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in names]
        problem = None if len(names) == n else f"{len(names)} names for {n} classes"
    except Exception as e:  # noqa: BLE001 - whatever is wrong with it, say so in one line
        problem = f"{type(e).__name__}: {' '.join(str(e).split())[:120]}"
    if problem:
        raise OrderlabError(f"the class names file {path} cannot be used ({problem}); restore it from the "
                            f"dataset's archive, or delete it to name the classes by number")
    return names


CIFAR10_FILES = ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", 10,
                 "CIFAR10")
CIFAR100_FILES = ("cifar-100-python", ["train"], "test", "fine_labels", 100, "CIFAR100")


def read_cifar(opts: LoadOptions, name: str, folder_name: str, train_files: list[str], test_file: str,
               label_key: str, n_classes: int, tv_class: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR's full splits as raw arrays: uint8 [N, 3, 32, 32] images, int64 labels."""
    root = data_dir(opts)
    folder = root / folder_name
    needed = [folder / f for f in [*train_files, test_file]]
    if not all(p.is_file() for p in needed) and opts.download:
        torchvision_download(name, tv_class, root)
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise missing_data_error(f"{name} ({', '.join(missing)})", folder)
    parts = [read_cifar_batch(folder / f, label_key) for f in train_files]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read_cifar_batch(folder / test_file, label_key)
    for split, y in (("train", y_train), ("test", y_test)):
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise OrderlabError(f"{name} {split} labels in {folder} fall outside 0..{n_classes - 1}; "
                                f"replace the files with the original ones")
    return x_train, y_train, x_test, y_test


def read_cifar100(opts: LoadOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-100 (fine labels) as raw uint8 arrays; for datasets built on it (small-mammals)."""
    return read_cifar(opts, "cifar100", *CIFAR100_FILES)


def cifar_dataset(name: str, arrays, class_names: list[str], folder: Path) -> Dataset:
    x_train, y_train, x_test, y_test = arrays
    return normalise_images(name, x_train.astype(np.float32) / 255.0, y_train, x_test.astype(np.float32) / 255.0,
                            y_test, class_names, augment=True, flip_ok=True, description=f"{name} ({folder})")


@register("cifar10", "CIFAR-10, 3×32×32, 10 classes, 50,000 / 10,000 (DATA_DIR/cifar-10-batches-py or --download)")
def load_cifar10(opts: LoadOptions) -> Dataset:
    arrays = read_cifar(opts, "cifar10", *CIFAR10_FILES)
    return cifar_dataset("cifar10", arrays, CIFAR10_CLASSES, data_dir(opts) / CIFAR10_FILES[0])


@register("cifar100", "CIFAR-100 (fine labels), 3×32×32, 100 classes, 50,000 / 10,000 "
          "(DATA_DIR/cifar-100-python or --download)")
def load_cifar100(opts: LoadOptions) -> Dataset:
    arrays = read_cifar100(opts)
    folder = data_dir(opts) / CIFAR100_FILES[0]
    return cifar_dataset("cifar100", arrays, read_cifar_meta(folder / "meta", "fine_label_names", 100), folder)


# ---------------------------------------------------------------------------------------- npz


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_FIX = ("save arrays x_train, y_train, x_test, y_test with numpy.savez (images [N,H,W], [N,H,W,C] or "
           "[N,C,H,W]; or features [N,D]; integer labels [N])")


def _npz_labels(path: str, y_train: np.ndarray, y_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels remapped to 0..K-1 in sorted order of the original values (names keep the originals)."""
    for key, y in (("y_train", y_train), ("y_test", y_test)):
        if y.ndim != 1:
            raise OrderlabError(f"{path}: {key} has shape {y.shape}, expected [N] class labels; {NPZ_FIX}")
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
                or (np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
            what = y.dtype
            if np.issubdtype(y.dtype, np.floating):     # floats are fine when whole: say which are not
                bad = y[~(np.isfinite(y) & (y == np.round(y)))]
                what = f"{y.dtype} values that are not whole numbers, e.g. {bad[0]:g}"
            raise OrderlabError(f"{path}: {key} must hold integer class labels (got {what}); {NPZ_FIX}")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise OrderlabError(f"{path}: y_train has {len(classes)} class; a classification dataset needs at least 2")
    unseen = np.setdiff1d(np.unique(y_test), classes)
    if len(unseen):
        raise OrderlabError(f"{path}: y_test has labels absent from y_train ({', '.join(map(str, unseen[:5]))}); "
                            f"every test class must appear in training")
    names = [str(c.item()) for c in classes]
    return (np.searchsorted(classes, y_train).astype(np.int64), np.searchsorted(classes, y_test).astype(np.int64),
            names)


def _to_nchw(x: np.ndarray) -> np.ndarray:
    """[N,H,W] -> [N,1,H,W]; [N,H,W,C] -> [N,C,H,W] when the last axis looks like channels (1, 3
    or 4) and the second does not; [N,C,H,W] as it is."""
    if x.ndim == 3:
        return x[:, None]
    if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return x.transpose(0, 3, 1, 2)
    return x


@register("npz", "your arrays: npz:PATH holding x_train, y_train, x_test, y_test (images or flat features)",
          takes_arg=True, arg_help="PATH")
def load_npz(opts: LoadOptions) -> Dataset:
    path = Path(opts.arg).expanduser()
    if not path.is_file():
        raise OrderlabError(f"npz file {path} not found; give an existing file: --dataset npz:PATH")
    if not zipfile.is_zipfile(path):     # np.load would take any other bytes for a pickle, and say so
        with open(path, "rb") as f:         # its first bytes only: a .npy may be gigabytes
            magic = f.read(6)
        kind = "one array saved with numpy.save (.npy)" if magic == b"\x93NUMPY" else "no zip archive"
        raise OrderlabError(f"{path} is not a NumPy .npz file (it is {kind}); {NPZ_FIX}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise OrderlabError(f"{path} lacks {', '.join(missing)} (it has {', '.join(z.files) or 'nothing'}); "
                                    f"{NPZ_FIX}")
            arr = {k: z[k] for k in NPZ_KEYS}
    except OrderlabError:
        raise
    except ValueError as e:
        if "pickle" not in str(e):
            raise OrderlabError(f"cannot read {path} as a NumPy .npz file (ValueError: {str(e).splitlines()[0]}); "
                                f"{NPZ_FIX}") from None
        # allow_pickle=False: an object array raises here, with numpy's advice to load it unsafely
        raise OrderlabError(f"{path} holds an array of Python objects, which orderlab does not load (it would "
                            f"unpickle it); {NPZ_FIX}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise OrderlabError(f"cannot read {path} as a NumPy .npz file ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else 'unreadable'}); {NPZ_FIX}") from None
    x_train, x_test = arr["x_train"], arr["x_test"]
    for key, x, y in (("train", x_train, arr["y_train"]), ("test", x_test, arr["y_test"])):
        if not (np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_)) or \
                np.issubdtype(x.dtype, np.complexfloating):
            raise OrderlabError(f"{path}: x_{key} must be numeric (got {x.dtype}); {NPZ_FIX}")
        if x.ndim not in (2, 3, 4):
            raise OrderlabError(f"{path}: x_{key} has shape {x.shape}; {NPZ_FIX}")
        if len(x) != len(y):
            raise OrderlabError(f"{path}: x_{key} has {len(x)} rows but y_{key} has {len(y)}; they must match")
        if len(x) == 0:
            raise OrderlabError(f"{path}: x_{key} is empty; {NPZ_FIX}")
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            raise OrderlabError(f"{path}: x_{key} holds NaN or infinite values; clean them before training")
    if x_train.ndim != x_test.ndim:
        raise OrderlabError(f"{path}: x_train {x_train.shape} and x_test {x_test.shape} differ in rank; {NPZ_FIX}")
    y_train, y_test, names = _npz_labels(str(path), arr["y_train"], arr["y_test"])
    if x_train.ndim == 2:
        if x_train.shape[1] != x_test.shape[1]:
            raise OrderlabError(f"{path}: x_train has {x_train.shape[1]} features but x_test {x_test.shape[1]}; "
                                f"save both splits with the same features, in the same order")
        xtr = x_train.astype(np.float64)
        mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0)   # constant features stay 0 instead of dividing by 0
        return Dataset(name=f"npz:{opts.arg}", kind="features",
                       x_train=((xtr - mu) / sd).astype(np.float32), y_train=y_train,
                       x_test=((x_test.astype(np.float64) - mu) / sd).astype(np.float32), y_test=y_test,
                       n_classes=len(names), class_names=names, description=f"features from {path}")
    xtr, xte = _to_nchw(x_train), _to_nchw(x_test)
    if xtr.shape[1:] != xte.shape[1:]:
        raise OrderlabError(f"{path}: train images {xtr.shape[1:]} and test images {xte.shape[1:]} "
                            f"(as C×H×W) differ in shape; save both splits at one size, with their channels on the "
                            f"same axis")
    # Integer images are taken as 0..255 pixels; float images are kept as they are. One rule for both
    # splits: float train images in 0..1 beside uint8 test images were scaled by train's dtype alone,
    # and the test pixels reached 255 times the train's range without a word.
    if np.issubdtype(x_train.dtype, np.integer) != np.issubdtype(x_test.dtype, np.integer):
        raise OrderlabError(f"{path}: x_train is {x_train.dtype} and x_test {x_test.dtype}, so one split's images "
                            f"would read as 0..255 pixels and the other's as they are; save both with one dtype "
                            f"(uint8 pixels, or floats on one scale)")
    scale = 255.0 if np.issubdtype(x_train.dtype, np.integer) else 1.0
    return normalise_images(f"npz:{opts.arg}", xtr.astype(np.float32) / scale, y_train,
                            xte.astype(np.float32) / scale, y_test, names, augment=False, flip_ok=False,
                            description=f"images from {path}")
