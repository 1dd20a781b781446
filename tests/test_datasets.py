"""Image datasets: tiny files in the real formats (idx .gz, CIFAR pickle batches, npz) written under
tmp_path and loaded; one-line errors for missing or broken data; the Debian Fashion-MNIST files."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import require_fashion_mnist
from orderlab.errors import OrderlabError
from orderlab.trainer.data import images, load_dataset


def one_line_error(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(OrderlabError) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg and match in msg, msg
    return msg


def unnormalise(ds, x: np.ndarray) -> np.ndarray:
    return x * np.array(ds.std, np.float32)[:, None, None] + np.array(ds.mean, np.float32)[:, None, None]


# ---------------------------------------------------------------------------------- digits


def test_digits_fixed_stratified_split():
    ds = load_dataset("digits")
    assert ds.kind == "image" and ds.input_shape == (1, 8, 8) and ds.n_classes == 10
    assert (len(ds.y_train), len(ds.y_test)) == (1347, 450)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert np.all(np.abs(np.bincount(ds.y_test) - counts * 450 / 1797) <= 1)     # stratified
    assert abs(ds.x_train.mean()) < 1e-4 and abs(ds.x_train.std() - 1) < 1e-3
    assert not ds.augment_default and not ds.flip_ok
    again = load_dataset("digits")
    assert ds.fingerprint("train") == again.fingerprint("train") and np.array_equal(ds.x_test, again.x_test)
    # ids index the split; pixels come back as sklearn's 0..16 values scaled to [0, 1]
    assert np.array_equal(ds.id_train, np.arange(1347))
    from sklearn.datasets import load_digits
    pixels = np.round(unnormalise(ds, ds.x_train) * 16)
    sk = load_digits().images
    assert any(np.array_equal(pixels[0, 0], img) for img in sk)


def test_digits_are_sklearns_split_read_without_importing_sklearn():
    """The shipped test ids are the split scikit-learn's train_test_split gives (stratified,
    random_state=0), and the pixels its load_digits gives; loading them does not import
    scikit-learn (~0.9 s of every sweep worker's start-up)."""
    import subprocess
    import sys
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    sk = load_digits()
    idx_train, idx_test = (np.sort(i) for i in train_test_split(np.arange(1797), test_size=450, stratify=sk.target,
                                                                  random_state=0))
    ds = load_dataset("digits")
    for x, y, idx in ((ds.x_train, ds.y_train, idx_train), (ds.x_test, ds.y_test, idx_test)):
        assert np.array_equal(y, sk.target[idx])
        assert np.array_equal(np.round(unnormalise(ds, x) * 16)[:, 0], sk.images[idx])
    pixels, labels = images.digits_arrays()
    assert np.array_equal(pixels, sk.data) and np.array_equal(labels, sk.target)
    code = "import sys; from orderlab.trainer.data import load_dataset; load_dataset('digits'); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# ------------------------------------------------------------------------------ idx (MNIST)


def write_idx(path: Path, arr: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist_like(folder: Path, n_train=20, n_test=10, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    arrs = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": np.arange(n_train) % 10,
            "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": np.arange(n_test) % 10}
    for key, stem in images.IDX_FILES.items():
        write_idx(folder / stem, arrs[key], compress)
    return arrs


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_files(tmp_path, compress):
    arrs = write_mnist_like(tmp_path / "MNIST" / "raw", compress=compress)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.input_shape == (1, 28, 28) and (len(ds.y_train), len(ds.y_test)) == (20, 10)
    assert np.array_equal(ds.y_train, arrs["y_train"]) and ds.y_train.dtype == np.int64
    assert np.allclose(unnormalise(ds, ds.x_test)[:, 0] * 255, arrs["x_test"], atol=1e-3)
    assert not ds.flip_ok and not ds.augment_default


def test_fashion_mnist_reads_torchvision_layout_without_debian_files(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    write_mnist_like(tmp_path / "FashionMNIST" / "raw")
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert len(ds.y_train) == 20 and ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_missing_and_broken_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    for name, folder in [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]:
        msg = one_line_error("--download", load_dataset, name, data_dir=tmp_path / "empty")
        assert str(tmp_path / "empty" / folder / "raw") in msg
    raw = tmp_path / "MNIST" / "raw"
    write_mnist_like(raw)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 50, 1, 2])))
    one_line_error("holds 2 values where its header declares shape (50,) (50 values): the file is truncated or its "
                   "header damaged", load_dataset, "mnist", data_dir=tmp_path)
    # a header naming 3 dimensions over label bytes: not "truncated (92 values for shape (100, 17105161, …))"
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 100]) + bytes(100)))
    one_line_error("truncated or its header damaged", load_dataset, "mnist", data_dir=tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 100])))
    one_line_error("ends inside its header (8 bytes for 3 dimensions)", load_dataset, "mnist", data_dir=tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    one_line_error("train-labels-idx1-ubyte.gz", load_dataset, "mnist", data_dir=tmp_path)
    # a label past the classes (one byte damaged): refused at load, not a FAILED run mid-training
    write_mnist_like(raw)
    y = np.arange(10) % 10
    y[3] = 200
    write_idx(raw / "t10k-labels-idx1-ubyte", y)
    one_line_error("mnist: test labels run 0..200, outside the 10 classes 0..9; replace the files",
                   load_dataset, "mnist", data_dir=tmp_path)


def test_default_data_dir_is_the_orderlab_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    msg = one_line_error("--download", load_dataset, "cifar10")
    assert str(tmp_path / ".cache" / "orderlab" / "data" / "cifar-10-batches-py") in msg


def test_fashion_mnist_from_debian_package():
    require_fashion_mnist()
    if not (images.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion-mnist", data_dir="/nonexistent", train_subset=1000, test_subset=500)
    assert ds.input_shape == (1, 28, 28) and ds.n_classes == 10
    assert (len(ds.y_train), len(ds.y_test)) == (1000, 500)
    assert np.array_equal(np.bincount(ds.y_train), np.full(10, 100))      # balanced subset
    assert ds.id_train.max() < 60000 and ds.id_test.max() < 10000
    assert 0.25 < ds.mean[0] < 0.32 and 0.33 < ds.std[0] < 0.37            # Fashion-MNIST's known stats


# ------------------------------------------------------------------------------------- CIFAR


def write_cifar_batch(path: Path, data: np.ndarray, labels, label_key: str, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    d = {b"batch_label": b"test", b"data": data.reshape(len(data), -1), label_key.encode(): list(labels),
         b"filenames": [b"x.png"] * len(data)}
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=protocol)


def cifar_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


@pytest.mark.parametrize("protocol", [2, 5])   # the official files are protocol 2; re-pickled ones vary
def test_cifar10_reads_python_batches(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    batches = [cifar_images(3, i) for i in range(6)]
    for i in range(5):
        write_cifar_batch(folder / f"data_batch_{i + 1}", batches[i], [i, i + 1, 9], "labels", protocol)
    write_cifar_batch(folder / "test_batch", batches[5], [0, 5, 7], "labels", protocol)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32) and ds.n_classes == 10 and (len(ds.y_train), len(ds.y_test)) == (15, 3)
    assert list(ds.y_train[:3]) == [0, 1, 9] and list(ds.y_test) == [0, 5, 7]
    assert ds.class_names[0] == "airplane" and ds.augment_default and ds.flip_ok
    # rows are R, G, B planes of 32×32: channel order survives
    assert np.allclose(unnormalise(ds, ds.x_test) * 255, batches[5], atol=1e-3)
    assert len(ds.mean) == 3 and abs(ds.x_train[:, 1].mean()) < 1e-4


def test_cifar100_reads_fine_labels_and_names(tmp_path):
    folder = tmp_path / "cifar-100-python"
    write_cifar_batch(folder / "train", cifar_images(4, 0), [0, 42, 99, 42], "fine_labels")
    write_cifar_batch(folder / "test", cifar_images(2, 1), [99, 0], "fine_labels")
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f, protocol=2)
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert ds.n_classes == 100 and list(ds.y_train) == [0, 42, 99, 42] and ds.class_names[42] == "c42"
    x_train, y_train, x_test, y_test = images.read_cifar100(images.LoadOptions(data_dir=tmp_path))
    assert x_train.dtype == np.uint8 and x_train.shape == (4, 3, 32, 32) and list(y_test) == [99, 0]
    # a damaged names file is refused (read as numbers, the study would keep them); none: numbers
    meta = (folder / "meta").read_bytes()
    (folder / "meta").write_bytes(meta[:30])
    one_line_error("class names file", load_dataset, "cifar100", data_dir=tmp_path)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [b"a", b"b"]}, f, protocol=2)
    assert "2 names for 100 classes" in one_line_error("delete it", load_dataset, "cifar100", data_dir=tmp_path)
    (folder / "meta").unlink()
    assert load_dataset("cifar100", data_dir=tmp_path).class_names[42] == "42"


def test_missing_and_broken_cifar(tmp_path):
    msg = one_line_error("--download", load_dataset, "cifar100", data_dir=tmp_path)
    assert str(tmp_path / "cifar-100-python") in msg
    folder = tmp_path / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        write_cifar_batch(folder / name, cifar_images(2, 0), [0, 1], "labels")
    one_line_error("test_batch", load_dataset, "cifar10", data_dir=tmp_path)   # names the missing file
    (folder / "test_batch").write_bytes(b"garbage")
    one_line_error("test_batch", load_dataset, "cifar10", data_dir=tmp_path)
    # a pickle that would run code is refused, not executed
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(_Boom(), f, protocol=2)
    one_line_error("refusing", load_dataset, "cifar10", data_dir=tmp_path)
    assert not (tmp_path / "pwned").exists()
    write_cifar_batch(folder / "test_batch", cifar_images(2, 0), [0, 10], "labels")
    one_line_error("outside 0..9", load_dataset, "cifar10", data_dir=tmp_path)
    # labels as [[0], [1]] (a traceback); pixels as floats past 255 (wrapped around silently)
    write_cifar_batch(folder / "test_batch", cifar_images(2, 0), [[0], [1]], "labels")
    one_line_error("labels (2, 1); expected [N, 3072] and N labels", load_dataset, "cifar10", data_dir=tmp_path)
    write_cifar_batch(folder / "test_batch", cifar_images(2, 0).astype(np.float64) + 100.7, [0, 1], "labels")
    one_line_error("holds float64 pixels, not bytes 0-255", load_dataset, "cifar10", data_dir=tmp_path)
    write_cifar_batch(folder / "test_batch", cifar_images(2, 0).astype(np.int64), [0, 1], "labels")
    assert load_dataset("cifar10", data_dir=tmp_path).x_test.shape == (2, 3, 32, 32)   # whole bytes: fine


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


# --------------------------------------------------------------------------------------- npz


def save(tmp_path, name="d.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_channels_last_images(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (12, 10, 10, 3), dtype=np.uint8)
    spec = save(tmp_path, x_train=x_train, y_train=np.array([3, 7, 9] * 4), x_test=x_train[:4],
                y_test=np.array([9, 9, 3, 7]))
    ds = load_dataset(spec)
    assert ds.kind == "image" and ds.input_shape == (3, 10, 10) and ds.name == spec
    assert ds.n_classes == 3 and ds.class_names == ["3", "7", "9"]            # labels remapped to 0..K-1
    assert list(ds.y_test) == [2, 2, 0, 1]
    assert np.allclose(unnormalise(ds, ds.x_train) * 255, x_train.transpose(0, 3, 1, 2), atol=1e-3)


@pytest.mark.parametrize("shape,expected", [((6, 3, 9, 9), (3, 9, 9)), ((6, 9, 9), (1, 9, 9)),
                                            ((6, 9, 9, 1), (1, 9, 9))])
def test_npz_image_layouts(tmp_path, shape, expected):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    ds = load_dataset(save(tmp_path, x_train=x, y_train=np.arange(6) % 2, x_test=x, y_test=np.arange(6) % 2))
    assert ds.input_shape == expected


def test_npz_flat_features_are_standardised_with_train_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.normal(5, 3, (50, 4))
    x_train[:, 3] = 1.0                                                        # a constant feature
    spec = save(tmp_path, x_train=x_train, y_train=np.arange(50) % 2, x_test=x_train[:5] + 3,
                y_test=np.zeros(5, int))
    ds = load_dataset(spec)
    assert ds.kind == "features" and ds.input_shape == (4,) and ds.x_train.dtype == np.float32
    assert np.allclose(ds.x_train[:, :3].mean(0), 0, atol=1e-5) and np.allclose(ds.x_train[:, :3].std(0), 1, atol=1e-4)
    assert np.allclose(ds.x_test[:, :3] - ds.x_train[:5, :3], 3 / x_train[:, :3].std(0), atol=1e-4)
    assert np.all(ds.x_train[:, 3] == 0)


def test_npz_errors_are_one_line_and_name_the_file(tmp_path):
    x, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    ok = dict(x_train=x, y_train=y, x_test=x, y_test=y)
    cases = [
        (save(tmp_path, "a.npz", x_train=x, y_train=y, x_test=x), "lacks y_test"),
        (save(tmp_path, "b.npz", **{**ok, "y_train": y[:3]}), "4 rows but y_train has 3"),
        (save(tmp_path, "c.npz", **{**ok, "x_test": np.array([["a", "b", "c"]] * 4)}), "numeric"),
        (save(tmp_path, "d.npz", **{**ok, "x_train": np.full((4, 3), np.nan)}), "NaN"),
        (save(tmp_path, "e.npz", **{**ok, "x_train": np.array([[1, 2, 3]] * 4, dtype=object)}),
         "holds an array of Python objects"),
        (save(tmp_path, "f.npz", **{**ok, "y_test": np.array([0, 1, 2, 1])}), "absent from y_train"),
        (save(tmp_path, "g.npz", **{**ok, "y_train": np.array([0.5, 1, 0, 1])}), "integer class labels (got float64 values that are not whole numbers, e.g. 0.5)"),
        (save(tmp_path, "h.npz", **{**ok, "x_test": np.zeros((4, 5))}), "3 features but x_test 5; save both splits with the same features"),
        (save(tmp_path, "i.npz", **{**ok, "x_train": np.zeros((4, 3, 3)), "x_test": np.zeros((4, 3, 4))}), "differ in shape; save both splits at one size"),
        (save(tmp_path, "j.npz", **{**ok, "x_train": np.zeros(4)}), "shape"),
        # float train images in 0..1 beside uint8 test pixels: scaled by train's dtype alone before
        (save(tmp_path, "k.npz", **{**ok, "x_train": np.zeros((4, 3, 3), np.float32),
                                    "x_test": np.zeros((4, 3, 3), np.uint8)}),
         "x_train is float32 and x_test uint8, so one split's images would read as 0..255 pixels"),
    ]
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 this is no zip")
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    np.save(tmp_path / "one.npy", x)
    cases += [(f"npz:{tmp_path / 'junk.npz'}", "is not a NumPy .npz file (it is no zip archive)"),
              (f"npz:{tmp_path / 'random.npz'}", "is not a NumPy .npz file (it is no zip archive)"),
              (f"npz:{tmp_path / 'one.npy'}", "it is one array saved with numpy.save (.npy)"),
              (f"npz:{tmp_path / 'absent.npz'}", "not found")]
    for spec, match in cases:
        msg = one_line_error(match, load_dataset, spec)
        assert spec[4:] in msg and "allow_pickle" not in msg, msg
    one_line_error("npz:PATH", load_dataset, "npz")



@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_synthetic_float_options_must_be_finite_and_nothing_is_recorded(store_uri, value):
    """``nan < 0`` is False: a non-finite float passed the range checks and failed inside training,
    after the study was created."""
    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from orderlab.cli import app
    from orderlab.store import Store
    r = CliRunner().invoke(app, ["train", "--arch", "mlp", "--dataset", f"gaussians:sep={value}", "--seeds", "0",
                                 "--epochs", "1", "--quiet", "--study", "nan"])
    assert_one_line_error(r, f"bad gaussians option 'sep={value}'", "sep must be a finite number",
                          "gaussians:sep=2.0")
    assert Store(store_uri).study_names() == []


def test_synthetic_integer_options_say_an_integer():
    for spec in ["gaussians:dim=x", "gaussians:classes=2.5", "mnist1d:n=many"]:
        msg = one_line_error("must be an integer", load_dataset, spec)
        assert "a int" not in msg, msg


def test_datasets_are_registered_with_descriptions():
    from orderlab.trainer.data import dataset_specs
    specs = {d.name: d for d in dataset_specs()}
    for name in ["digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "npz"]:
        assert specs[name].description
    assert specs["npz"].takes_arg and not specs["digits"].takes_arg


@pytest.mark.parametrize("sep", ["-1", "1e300"])
def test_gaussian_separation_out_of_range_is_refused(sep):
    from orderlab.trainer.data import load_dataset
    with pytest.raises(OrderlabError, match=r"0 <= sep <= 1000"):
        load_dataset(f"gaussians:sep={sep}")


def test_a_failed_download_says_why(tmp_path, monkeypatch):
    """torchvision's MNIST puts the reason on the lines after "Error downloading X:", which the
    message used to drop, leaving "failed (Error downloading train-images-idx3-ubyte.gz:)"."""
    import torchvision

    class Offline:
        def __init__(self, root, *a, **k):
            (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)     # as torchvision does first
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://example/, got:\n"
                               "<urlopen error [Errno -2] Name or service not known>\n")
    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    msg = one_line_error("Name or service not known", load_dataset, "mnist", data_dir=tmp_path, download=True)
    assert "Error downloading train-images-idx3-ubyte.gz: Tried https://example/, got:" in msg
    # and leaves no empty dataset folder behind (it looked like data that is there)
    assert not (tmp_path / "MNIST").exists() and tmp_path.exists()
    fresh = tmp_path / "new"
    one_line_error("Name or service not known", load_dataset, "mnist", data_dir=fresh, download=True)
    assert not fresh.exists()
