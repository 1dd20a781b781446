"""Benchmark and synthetic datasets: each real on-disk format is read from tiny files written here."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from orderlab.errors import OrderlabError
from orderlab.trainer.data import load_dataset, parse_name


def _write_jpegs(folder, count, colour, size=64, prefix="img"):
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        arr = np.full((size, size, 3), colour, np.uint8)
        arr[i % size, :, :] = 255 - np.array(colour, np.uint8)       # make every image distinct
        name = f"{prefix}_{i}.JPEG"
        Image.fromarray(arr).save(folder / name, format="JPEG", quality=95)
        names.append(name)
    return names


# ---------------------------------------------------------------- synthetic

def test_gaussians_defaults_options_and_seed():
    d = load_dataset("gaussians")
    assert d.kind == "features" and d.x_train.shape == (3000, 20) and d.x_test.shape == (1000, 20)
    assert np.bincount(d.y_train).tolist() == [600] * 5
    again = load_dataset("gaussians")
    assert np.array_equal(d.x_train, again.x_train)
    other = load_dataset("gaussians", data_seed=1)
    assert not np.array_equal(d.x_train, other.x_train)
    g = load_dataset("gaussians:dim=3,classes=4,sep=8,n=400,test=100")
    assert g.x_train.shape == (400, 3) and g.n_classes == 4 and g.name == "gaussians:dim=3,classes=4,sep=8,n=400,test=100"
    # Well separated classes: the nearest class mean classifies almost everything.
    means = np.stack([g.x_train[g.y_train == c].mean(0) for c in range(4)])
    pred = np.argmin(((g.x_test[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == g.y_test).mean() > 0.95
    with pytest.raises(OrderlabError, match="bad gaussians option"):
        load_dataset("gaussians:depth=3")
    with pytest.raises(OrderlabError, match="must be an int"):
        load_dataset("gaussians:dim=x")


def test_random_labels_and_teacher_wrap_a_base():
    base = load_dataset("gaussians:n=600,test=200")
    r = load_dataset("random-labels:gaussians:n=600,test=200")
    assert np.array_equal(r.x_train, base.x_train)
    assert np.array_equal(np.bincount(r.y_train), np.bincount(base.y_train))   # shuffled, counts kept
    assert (r.y_train == base.y_train).mean() < 0.5
    assert np.array_equal(r.y_train, load_dataset("random-labels:gaussians:n=600,test=200").y_train)
    assert not np.array_equal(r.y_train, load_dataset("random-labels:gaussians:n=600,test=200", data_seed=2).y_train)
    assert r.fingerprint("train") != base.fingerprint("train")
    t = load_dataset("teacher:gaussians:n=600,test=200")
    counts = np.bincount(t.y_train, minlength=5)
    assert counts.min() >= 0.8 * 120 and counts.max() <= 1.2 * 120     # balanced by the bias tuning
    assert np.array_equal(t.y_train, load_dataset("teacher:gaussians:n=600,test=200").y_train)
    with pytest.raises(OrderlabError, match="needs an argument"):
        parse_name("teacher")
    with pytest.raises(OrderlabError, match="unknown dataset"):
        load_dataset("random-labels:nosuch")


def test_train_subset_applies_to_wrapped_dataset():
    r = load_dataset("random-labels:gaussians", train_subset=100, test_subset=50)
    assert len(r.y_train) == 100 and len(r.y_test) == 50
    assert np.bincount(r.y_train).tolist() == [20] * 5


# ---------------------------------------------------------------- benchmarks

def test_mnist1d_generated_offline():
    pytest.importorskip("mnist1d")
    state = np.random.get_state()
    d = load_dataset("mnist1d")
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40) and d.n_classes == 10
    assert np.array_equal(np.random.get_state()[1], state[1])        # global RNG left alone
    assert np.array_equal(d.y_train, load_dataset("mnist1d").y_train)


def test_stl10_binary_format(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    imgs = {s: rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8) for s, n in (("train", 6), ("test", 4))}
    labels = {"train": np.array([1, 2, 3, 10, 1, 5], np.uint8), "test": np.array([2, 2, 7, 10], np.uint8)}
    for s in imgs:  # the release stores each channel column-major
        imgs[s].transpose(0, 1, 3, 2).tofile(folder / f"{s}_X.bin")
        labels[s].tofile(folder / f"{s}_y.bin")
    d = load_dataset("stl10", data_dir=tmp_path)
    assert d.x_train.shape == (6, 3, 96, 96) and d.n_classes == 10
    assert d.y_train.tolist() == [0, 1, 2, 9, 0, 4] and d.class_names[0] == "airplane"
    back = d.x_train * np.array(d.std, np.float32)[:, None, None] + np.array(d.mean, np.float32)[:, None, None]
    assert np.abs(back * 255 - imgs["train"]).max() < 0.05
    # class names that do not count 10 classes set n_classes wrong (labels 1-10 failed in training)
    (folder / "class_names.txt").write_text("a\nb\n")
    with pytest.raises(OrderlabError, match="class_names.txt names 2 classes where STL-10 has 10"):
        load_dataset("stl10", data_dir=tmp_path)
    (folder / "class_names.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(OrderlabError, match="cannot read .*class_names.txt"):
        load_dataset("stl10", data_dir=tmp_path)
    (folder / "class_names.txt").unlink()
    (folder / "test_y.bin").write_bytes(b"\x01")
    with pytest.raises(OrderlabError, match="matching"):
        load_dataset("stl10", data_dir=tmp_path)
    # a half-extracted release: each missing file named (was a traceback), as if nothing were there
    (folder / "test_X.bin").unlink()
    with pytest.raises(OrderlabError, match=r"stl10 \(stl10_binary/test_X.bin\) not found .*--download"):
        load_dataset("stl10", data_dir=tmp_path)
    (folder / "test_X.bin").mkdir()                      # a folder in a file's place
    with pytest.raises(OrderlabError, match="cannot read STL-10's test split"):
        load_dataset("stl10", data_dir=tmp_path)


def test_stl10_missing_names_the_fix(tmp_path):
    with pytest.raises(OrderlabError, match="--download"):
        load_dataset("stl10", data_dir=tmp_path)


def test_tiny_imagenet_official_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n02", "n01", "n03"]
    (root / "train").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tsalamander\nn03\tbullfrog\nn99\tx\n")
    for k, w in enumerate(wnids):
        _write_jpegs(root / "train" / w / "images", 2, (40 * k, 100, 200), prefix=w)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
    names = _write_jpegs(root / "val" / "images", 4, (10, 20, 30), prefix="val")
    ann = "".join(f"{n}\t{w}\t0\t0\t63\t63\n" for n, w in zip(names, ["n03", "n01", "n02", "n01"]))
    (root / "val" / "val_annotations.txt").write_text(ann)
    d = load_dataset("tiny-imagenet", data_dir=tmp_path)
    assert d.x_train.shape == (6, 3, 64, 64) and d.x_test.shape == (4, 3, 64, 64)
    assert d.class_names == ["goldfish", "salamander", "bullfrog"]             # sorted wnids
    assert d.y_train.tolist() == [0, 0, 1, 1, 2, 2]
    assert d.y_test.tolist() == [2, 0, 1, 0]
    assert (root / "orderlab-cache.npz").exists()
    from orderlab.trainer.data import benchmarks

    def no_decoding(paths):
        raise AssertionError("decoded again")
    real = benchmarks._read_images
    benchmarks._read_images = no_decoding           # the cache is read, nothing decoded
    try:
        cached = load_dataset("tiny-imagenet", data_dir=tmp_path)
    finally:
        benchmarks._read_images = real
    assert np.array_equal(cached.x_test, d.x_test) and cached.fingerprint("test") == d.fingerprint("test")
    # Images added since (a folder unzipped in part, then in full): the cache is made again, not trusted
    _write_jpegs(root / "train" / "n01" / "images", 3, (0, 0, 0), prefix="late")
    more = load_dataset("tiny-imagenet", data_dir=tmp_path)
    assert more.x_train.shape[0] == 9 and more.y_train.tolist().count(0) == 5
    # A cache cut short (an interrupted copy): decoded again, not a traceback
    data = (root / "orderlab-cache.npz").read_bytes()
    (root / "orderlab-cache.npz").write_bytes(data[:len(data) // 3])
    again = load_dataset("tiny-imagenet", data_dir=tmp_path)
    assert np.array_equal(again.x_train, more.x_train)
    # a words.txt that is not UTF-8: named in one line (was a UnicodeDecodeError traceback)
    (root / "words.txt").write_bytes(b"n01\tgoldfish \xff\xfe\n")
    with pytest.raises(OrderlabError, match=r"cannot read .*words.txt .*replace it"):
        load_dataset("tiny-imagenet", data_dir=tmp_path)


def test_imagenet_subset_folders_and_class_lists(tmp_path):
    root = tmp_path / "inet"
    for k, c in enumerate(["cat", "dog", "fox"]):
        _write_jpegs(root / "train" / c, 3, (50 * k, 60, 70), size=80)
        _write_jpegs(root / "val" / c, 2, (50 * k, 60, 70), size=48)
    d = load_dataset(f"imagenet-subset:{root}")
    assert d.class_names == ["cat", "dog", "fox"] and d.x_train.shape == (9, 3, 64, 64) and d.x_test.shape[0] == 6
    two = load_dataset(f"imagenet-subset:{root}:fox,cat")
    assert two.class_names == ["fox", "cat"] and two.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    assert load_dataset(f"imagenet-subset:{root}:2").class_names == ["cat", "dog"]
    (tmp_path / "classes.txt").write_text("dog\nfox\n")
    assert load_dataset(f"imagenet-subset:{root}:@{tmp_path / 'classes.txt'}").class_names == ["dog", "fox"]
    with pytest.raises(OrderlabError, match="not folders"):
        load_dataset(f"imagenet-subset:{root}:cat,wolf")
    with pytest.raises(OrderlabError, match="train/ and val/"):
        load_dataset(f"imagenet-subset:{tmp_path}")


def test_small_mammals_from_cifar100_python_format(tmp_path):
    pytest.importorskip("orderlab.trainer.data.images")
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    fine = {"train": [36, 1, 80, 50, 65, 74, 2, 36], "test": [80, 3, 74]}
    for split, labels in fine.items():
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        with open(folder / split, "wb") as fh:
            pickle.dump({b"data": data, b"fine_labels": labels, b"coarse_labels": [0] * len(labels),
                         b"filenames": [b"x"] * len(labels)}, fh)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)],
                     b"coarse_label_names": [b"x"] * 20}, fh)
    d = load_dataset("small-mammals", data_dir=tmp_path)
    assert d.class_names == ["hamster", "mouse", "rabbit", "shrew", "squirrel"]
    assert d.y_train.tolist() == [0, 4, 1, 2, 3, 0] and d.id_train.tolist() == [0, 2, 3, 4, 5, 7]
    assert d.y_test.tolist() == [4, 3] and d.x_train.shape == (6, 3, 32, 32)


def test_every_image_loader_refuses_labels_outside_its_classes():
    """The check sits in the Dataset every loader makes, so both constructors image loaders end in
    (images.normalise_images and benchmarks.image_dataset) refuse, as a Dataset made directly does."""
    from orderlab.trainer.data import benchmarks, images
    x = np.zeros((2, 3, 4, 4), np.uint8)
    with pytest.raises(OrderlabError, match="small: test labels run 0..3, outside the 3 classes 0..2"):
        benchmarks.image_dataset("small", x, np.array([0, 1]), x, np.array([0, 3]), ["a", "b", "c"])
    with pytest.raises(OrderlabError, match="small: train labels run -1..1"):
        images.normalise_images("small", x.astype(np.float32), np.array([-1, 1]), x.astype(np.float32),
                                np.array([0, 1]), ["a", "b"], augment=False, flip_ok=False)
    from orderlab.trainer.data import Dataset
    f = np.zeros((2, 3), np.float32)
    with pytest.raises(OrderlabError, match="feats: test labels run 0..2, outside the 2 classes 0..1"):
        Dataset("feats", "features", f, np.array([0, 1]), f, np.array([0, 2]), 2)
