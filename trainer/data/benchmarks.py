"""The paper's other image benchmarks, read from their official on-disk formats.

* ``small-mammals``: the CIFAR-100 superclass "small mammals" (hamster, mouse, rabbit, shrew,
  squirrel), relabelled 0-4; example ids are indices into the full CIFAR-100 split.
* ``stl10``: the binary release (``stl10_binary/{train,test}_{X,y}.bin``, 96x96 colour, 10 classes).
* ``tiny-imagenet``: the official folder ``tiny-imagenet-200/`` (``wnids.txt``, ``words.txt``,
  ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` with ``val/val_annotations.txt``). The
  labelled validation set is the test split (the official test set has no labels). The decoded
  images are cached as ``tiny-imagenet-200/orderlab-cache.npz`` beside them.
* ``imagenet-subset:PATH[:CLASSES]``: ImageFolder trees ``PATH/train/<class>/*`` and
  ``PATH/val/<class>/*`` (or ``PATH/test``); CLASSES is a comma list of class folders, ``@FILE``
  (one per line) or a number N (the first N folders in sorted order). Images are resized (shorter
  side 64) and centre-cropped to 64x64.
* ``mnist1d``: MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package
  (4,000/1,000 signals of length 40; ``mnist1d:n=10000,seed=42`` to change size or generator seed).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.trainer.data import Dataset, LoadOptions, missing_data_error, register, tidy_failed_download
from orderlab.trainer.data.synthetic import parse_kv

# CIFAR-100's fine labels of the superclass "small mammals" (coarse label 16), in label order.
SMALL_MAMMALS = {36: "hamster", 50: "mouse", 65: "rabbit", 74: "shrew", 80: "squirrel"}
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")


def default_root(opts: LoadOptions) -> Path:
    return opts.data_dir or Path("~/.cache/orderlab/data").expanduser()


def image_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                  class_names: list[str], *, id_train=None, id_test=None, description: str = "") -> Dataset:
    """uint8 NCHW images -> float32 normalised per channel with the train split's statistics."""
    x_train = np.ascontiguousarray(x_train)
    mean = x_train.mean(axis=(0, 2, 3), dtype=np.float64) / 255.0
    std = x_train.std(axis=(0, 2, 3), dtype=np.float64) / 255.0 + 1e-8

    def norm(x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float32) / 255.0
        out -= mean.astype(np.float32)[:, None, None]
        out /= std.astype(np.float32)[:, None, None]
        return out

    return Dataset(name, "image", norm(x_train), np.asarray(y_train, np.int64), norm(x_test),
                   np.asarray(y_test, np.int64), len(class_names), id_train=id_train, id_test=id_test,
                   class_names=list(class_names), mean=tuple(float(m) for m in mean),
                   std=tuple(float(s) for s in std), augment_default=True, description=description)


def read_image(path: Path, size: int | None = None) -> np.ndarray:
    """One image file -> uint8 [3, H, W]; with ``size``, shorter side resized then centre-cropped."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None:
                w, h = im.size
                s = size / min(w, h)
                im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
                w, h = im.size
                left, top = (w - size) // 2, (h - size) // 2
                im = im.crop((left, top, left + size, top + size))
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except OSError as e:
        raise OrderlabError(f"cannot read image {path}: {e}; remove or replace the file") from None


def _read_images(paths: list[Path], size: int | None = None) -> np.ndarray:
    if not paths:
        return np.zeros((0, 3, size or 1, size or 1), np.uint8)
    first = read_image(paths[0], size)
    out = np.empty((len(paths), *first.shape), np.uint8)
    out[0] = first
    for i, p in enumerate(paths[1:], 1):
        img = read_image(p, size)
        if img.shape != first.shape:
            raise OrderlabError(f"{p} is {img.shape[2]}x{img.shape[1]}, but {paths[0]} is "
                                f"{first.shape[2]}x{first.shape[1]}; all images must have one size")
        out[i] = img
    return out


# ----------------------------------------------------------------------------- small mammals

@register("small-mammals", "CIFAR-100 superclass 'small mammals' (5 classes, 2.5k/500 images), relabelled 0-4")
def load_small_mammals(opts: LoadOptions) -> Dataset:
    from orderlab.trainer.data.images import read_cifar100
    x_tr, y_tr, x_te, y_te = read_cifar100(opts)
    fine = np.array(sorted(SMALL_MAMMALS))
    relabel = {f: i for i, f in enumerate(fine)}
    keep_tr = np.flatnonzero(np.isin(y_tr, fine))
    keep_te = np.flatnonzero(np.isin(y_te, fine))
    return image_dataset("small-mammals", x_tr[keep_tr], np.array([relabel[v] for v in y_tr[keep_tr]]),
                         x_te[keep_te], np.array([relabel[v] for v in y_te[keep_te]]),
                         [SMALL_MAMMALS[f] for f in fine], id_train=keep_tr.astype(np.int64),
                         id_test=keep_te.astype(np.int64),
                         description="CIFAR-100 small mammals: hamster, mouse, rabbit, shrew, squirrel")


# ----------------------------------------------------------------------------- STL-10

STL10_FILES = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")


def read_stl10_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The binary release: images uint8 stored column-major per channel, labels 1-10."""
    try:
        x = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8)
        y = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    except OSError as e:        # a folder in a file's place, unreadable
        raise OrderlabError(f"cannot read STL-10's {split} split under {folder} ({e.strerror or e}); "
                            f"download it again") from None
    if x.size != len(y) * 3 * 96 * 96 or len(y) == 0 or y.min() < 0 or y.max() > 9:
        raise OrderlabError(f"{folder}/{split}_X.bin and {split}_y.bin do not hold matching 96x96 STL-10 "
                            f"images and labels 1-10; download them again")
    return x.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2), y


@register("stl10", "STL-10: 5k/8k labelled 96x96 images, 10 classes (binary release; --data-dir or --download)")
def load_stl10(opts: LoadOptions) -> Dataset:
    root = default_root(opts)
    folder = root / "stl10_binary"
    # every file the labelled splits need: an archive half extracted is as missing as none
    missing = [f for f in STL10_FILES if not (folder / f).exists()]
    if missing:
        if not opts.download:
            raise missing_data_error(f"stl10 (stl10_binary/{', '.join(missing)})", root)
        import torchvision
        try:
            with tidy_failed_download(root):
                torchvision.datasets.STL10(str(root), split="train", download=True)
        except Exception as e:  # noqa: BLE001 - network errors of every kind
            raise OrderlabError(f"could not download STL-10 ({e}); put stl10_binary/ under {root}") from None
    x_tr, y_tr = read_stl10_split(folder, "train")
    x_te, y_te = read_stl10_split(folder, "test")
    names = STL10_CLASSES
    if (folder / "class_names.txt").exists():
        try:
            given = [n.strip() for n in (folder / "class_names.txt").read_text(encoding="utf-8").splitlines()
                     if n.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise OrderlabError(f"cannot read {folder}/class_names.txt ({e}); restore or remove it") from None
        if given and len(given) != len(STL10_CLASSES):
            # the names set the number of classes: 2 names for labels 1-10 failed mid-training
            raise OrderlabError(f"{folder}/class_names.txt names {len(given)} classes where STL-10 has "
                                f"{len(STL10_CLASSES)}; restore or remove it")
        names = given or names
    return image_dataset("stl10", x_tr, y_tr, x_te, y_te, names, description="STL-10 (labelled splits)")


# ----------------------------------------------------------------------------- Tiny ImageNet

def _release_text(path: Path) -> str:
    """A text file of a dataset's release (UTF-8); a one-line error naming it when it is not."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OrderlabError(f"cannot read {path} ({getattr(e, 'strerror', None) or e}); "
                            f"replace it with the original file") from None


def _tiny_imagenet_files(folder: Path) -> tuple[list[Path], list[int], list[Path], list[int], list[str]]:
    """The image files of each split with their classes, and the class names (nothing decoded)."""
    wnids = sorted(w.strip() for w in _release_text(folder / "wnids.txt").split() if w.strip())
    index = {w: i for i, w in enumerate(wnids)}
    words = {}
    if (folder / "words.txt").exists():
        for line in _release_text(folder / "words.txt").splitlines():
            wnid, _, name = line.partition("\t")
            words[wnid] = name.split(",")[0].strip()
    train_paths, y_tr = [], []
    for w in wnids:
        files = sorted(p for p in (folder / "train" / w / "images").glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise OrderlabError(f"{folder}/train/{w}/images holds no image; the tiny-imagenet-200 folder is incomplete")
        train_paths += files
        y_tr += [index[w]] * len(files)
    ann = folder / "val" / "val_annotations.txt"
    if not ann.exists():
        raise OrderlabError(f"{ann} is missing; tiny-imagenet needs the official val/ folder with its annotations")
    val_paths, y_te = [], []
    for line in _release_text(ann).splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise OrderlabError(f"{ann}: {parts[0]} has class {parts[1]}, which wnids.txt does not list")
        val_paths.append(folder / "val" / "images" / parts[0])
        y_te.append(index[parts[1]])
    order = np.argsort([p.name for p in val_paths], kind="stable")
    val_paths = [val_paths[i] for i in order]
    y_te = [y_te[i] for i in order]
    return train_paths, y_tr, val_paths, y_te, [words.get(w, w) for w in wnids]


def _files_key(folder: Path, paths: list[Path]) -> str:
    """What the decoded cache was made from: every file's path, size and modification time (listing
    them takes well under a second; decoding, a minute). A file added, removed or replaced (a folder
    unzipped in part, then in full) changes it."""
    import hashlib
    h = hashlib.sha1()
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p.relative_to(folder)}\0missing\n".encode())
    return h.hexdigest()


@register("tiny-imagenet", "Tiny ImageNet: 100k/10k 64x64 images, 200 classes (official folder; validation set "
          "as test; --data-dir or --download)")
def load_tiny_imagenet(opts: LoadOptions) -> Dataset:
    root = default_root(opts)
    folder = root / "tiny-imagenet-200"
    if not (folder / "wnids.txt").exists():
        if not opts.download:
            raise missing_data_error("tiny-imagenet (tiny-imagenet-200/wnids.txt, train/, val/)", root)
        from torchvision.datasets.utils import download_and_extract_archive
        try:
            with tidy_failed_download(root):
                download_and_extract_archive(TINY_IMAGENET_URL, str(root))
        except Exception as e:  # noqa: BLE001
            raise OrderlabError(f"could not download Tiny ImageNet ({e}); unzip tiny-imagenet-200.zip "
                                f"into {root}") from None
    train_paths, y_tr, val_paths, y_te, names = _tiny_imagenet_files(folder)
    meta = [folder / "wnids.txt", folder / "words.txt", folder / "val" / "val_annotations.txt"]
    key = _files_key(folder, meta + train_paths + val_paths)
    cache = folder / "orderlab-cache.npz"
    arrays = None
    if cache.exists():
        # Used only if it was made from these very files, and readable: a cache left by a folder
        # since changed, or cut short by a copy, is decoded again rather than trusted or fatal.
        try:
            with np.load(cache, allow_pickle=False) as z:
                if "source" in z.files and str(z["source"]) == key:
                    arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
        except Exception:  # noqa: BLE001 - any damage (a truncated zip, a bad member): decode again
            arrays = None
    if arrays is None:
        arrays = [_read_images(train_paths), np.array(y_tr, np.int64), _read_images(val_paths),
                  np.array(y_te, np.int64)]
        try:  # decoding 110k JPEGs takes a minute: keep them beside the originals
            tmp = folder / "orderlab-cache.tmp.npz"
            np.savez(tmp, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3],
                     class_names=np.array(names), source=np.array(key))
            tmp.replace(cache)
        except OSError:
            pass  # a read-only dataset folder: decode again next time
    return image_dataset("tiny-imagenet", *arrays, names, description="Tiny ImageNet (val as test)")


# ----------------------------------------------------------------------------- ImageNet subsets

def _pick_classes(available: list[str], spec: str | None, root: Path) -> list[str]:
    if not spec:
        return available
    if spec.isdigit():
        n = int(spec)
        if not 2 <= n <= len(available):
            raise OrderlabError(f"imagenet-subset: asked for {n} classes, {root}/train has {len(available)}; "
                                f"give a number from 2 to {len(available)}")
        return available[:n]
    if spec.startswith("@"):
        try:
            names = [ln.strip() for ln in Path(spec[1:]).expanduser().read_text().splitlines() if ln.strip()]
        except OSError as e:
            raise OrderlabError(f"imagenet-subset: cannot read class list {spec[1:]}: {e.strerror}") from None
    else:
        names = [c.strip() for c in spec.split(",") if c.strip()]
    missing = [c for c in names if c not in available]
    if missing:
        raise OrderlabError(f"imagenet-subset: classes {missing[:5]} are not folders of {root}/train "
                            f"(it has e.g. {available[:5]})")
    if len(set(names)) < 2:
        raise OrderlabError("imagenet-subset: choose at least two classes")
    return list(dict.fromkeys(names))


def _folder_files(split_dir: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for i, c in enumerate(classes):
        d = split_dir / c
        files = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS) if d.is_dir() else []
        paths += files
        labels += [i] * len(files)
    return paths, labels


@register("imagenet-subset", "ImageFolder trees PATH/train and PATH/val (or test), optional class list; "
          "images resized and centre-cropped to 64x64", takes_arg=True, arg_help="PATH[:CLASSES]")
def load_imagenet_subset(opts: LoadOptions, size: int = 64) -> Dataset:
    arg = str(opts.arg)
    path, classes_spec = Path(arg).expanduser(), None
    if not path.is_dir() and ":" in arg:
        head, _, tail = arg.rpartition(":")
        path, classes_spec = Path(head).expanduser(), tail
    train_dir = path / "train"
    test_dir = next((path / d for d in ("val", "test") if (path / d).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise OrderlabError(f"imagenet-subset: {path} needs train/ and val/ (or test/) folders with one "
                            f"subfolder of images per class")
    available = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
    classes = _pick_classes(available, classes_spec, path)
    p_tr, y_tr = _folder_files(train_dir, classes)
    p_te, y_te = _folder_files(test_dir, classes)
    if not p_tr or not p_te:
        raise OrderlabError(f"imagenet-subset: no images for classes {classes[:5]} under {train_dir} and {test_dir}")
    return image_dataset("imagenet-subset", _read_images(p_tr, size), np.array(y_tr), _read_images(p_te, size),
                         np.array(y_te), classes,
                         description=f"{len(classes)} ImageNet classes from {path}, {size}x{size}")


# ----------------------------------------------------------------------------- MNIST-1D

MNIST1D_DEFAULTS = {"n": 5000, "seed": 42}


@register("mnist1d", "MNIST-1D: 4k/1k 1-D signals of length 40, 10 classes, generated offline (mnist1d package)",
          arg_help="n=5000,seed=42", arg_optional=True)
def load_mnist1d(opts: LoadOptions) -> Dataset:
    p = parse_kv(opts.arg, MNIST1D_DEFAULTS, "mnist1d")
    if p["n"] < 50:
        raise OrderlabError(f"mnist1d:n={p['n']} is too small; use at least 50 signals")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise OrderlabError("mnist1d needs the mnist1d package; install it with `pip install mnist1d`") from None
    args = get_dataset_args()
    args.num_samples, args.seed = p["n"], p["seed"]
    # The generator seeds numpy's and random's global state: leave the caller's untouched.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x_tr, x_te = d["x"].astype(np.float32), d["x_test"].astype(np.float32)
    mu, sd = x_tr.mean(axis=0, keepdims=True), x_tr.std(axis=0, keepdims=True) + 1e-6
    return Dataset("mnist1d", "features", (x_tr - mu) / sd, d["y"].astype(np.int64), (x_te - mu) / sd,
                   d["y_test"].astype(np.int64), 10, description="MNIST-1D (Greydanus 2020)")
