"""The record format: round trip, atomic rewrite, corruption and version checks."""
import numpy as np
import pytest

from orderlab.record import (FORMAT_VERSION, RecordError, RecordWriter, load_examples, load_record,
                             save_examples, save_record, split_fingerprint)


def _writer(path, n=13, classes=10):
    ids = np.arange(n) * 3
    labels = np.arange(n) % classes
    fp = split_fingerprint("toy", "test", ids, labels)
    return RecordWriter(path, {"arch": "mlp", "seed": 1}, {"test": (ids, labels, fp)}, classes), labels


def test_round_trip_and_packing(tmp_path):
    path = tmp_path / "r" / "record.npz"
    w, labels = _writer(path)
    rng = np.random.default_rng(0)
    correct = rng.random((3, 13)) < 0.5
    for e in range(3):
        pred = np.where(correct[e], labels, (labels + 1) % 10)
        w.add(e * 0.5, e * 7, {"test": (correct[e], pred, np.full(13, 0.25))})
    rec = load_record(path)
    s = rec.split("test")
    assert rec.meta == {"arch": "mlp", "seed": 1}
    assert list(rec.epoch) == [0.0, 0.5, 1.0] and list(rec.step) == [0, 7, 14]
    assert s.correct_bits.shape == (3, 2) and s.correct_bits.dtype == np.uint8
    assert np.array_equal(s.correct(), correct)
    assert s.predicted.dtype == np.uint8 and s.p_true.dtype == np.float16
    assert np.array_equal(s.example_id, np.arange(13) * 3)
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert int(z["format_version"]) == FORMAT_VERSION
    assert not [p for p in path.parent.iterdir() if p.name != "record.npz"], "temporary files left behind"


def test_missing_split_names_fix(tmp_path):
    w, _ = _writer(tmp_path / "record.npz")
    w.add(0, 0, {"test": (np.ones(13, bool), np.zeros(13), np.zeros(13))})
    with pytest.raises(RecordError, match="--record-splits"):
        load_record(tmp_path / "record.npz").split("train")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "version"])
def test_corrupt_records_are_refused(tmp_path, damage):
    path = tmp_path / "record.npz"
    w, _ = _writer(path)
    w.add(0, 0, {"test": (np.ones(13, bool), np.zeros(13), np.zeros(13))})
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        rec = load_record(path)
        save_record(rec, path)
        with np.load(path) as z:
            arrays = dict(z)
        arrays["format_version"] = np.array(FORMAT_VERSION + 1)
        np.savez(path, **arrays)
    with pytest.raises(RecordError) as e:
        load_record(path)
    assert "\n" not in str(e.value)


def test_inconsistent_shapes_are_refused(tmp_path):
    path = tmp_path / "record.npz"
    w, _ = _writer(path)
    w.add(0, 0, {"test": (np.ones(13, bool), np.zeros(13), np.zeros(13))})
    with np.load(path) as z:
        arrays = dict(z)
    arrays["test/predicted"] = arrays["test/predicted"][:, :5]
    np.savez(path, **arrays)
    with pytest.raises(RecordError, match="inconsistent"):
        load_record(path)


@pytest.mark.parametrize("epochs", [[1.0, 0.5, 0.0], [0.0, float("nan"), 1.0], [0.0, 1.0, 0.5], [-1.0, 0.5, 1.0]],
                         ids=["reversed", "nan", "out-of-order", "negative"])
def test_checkpoint_epochs_that_are_not_increasing_are_refused(tmp_path, epochs):
    """A record's epochs edited out of order (or to NaN) was analysed without a word: reversed, it
    read as a network that ended at epoch 0; with a NaN, good checkpoints were dropped from all."""
    path = tmp_path / "record.npz"
    w, labels = _writer(path)
    for e in range(3):
        w.add(e * 0.5, e * 7, {"test": (np.ones(13, bool), labels, np.zeros(13))})
    with np.load(path) as z:
        arrays = dict(z)
    arrays["epoch"] = np.array(epochs)
    np.savez(path, **arrays)
    with pytest.raises(RecordError, match="checkpoint epochs are not increasing, finite, non-negative numbers") as e:
        load_record(path)
    assert "\n" not in str(e.value) and e.value.problem.startswith("is inconsistent")


def test_a_checkpoint_recorded_twice_is_read_as_written(tmp_path):
    """Runs resumed from their untrained state before 2026-11-25 recorded checkpoint 0 twice: such a
    record is not refused by the check of its epochs, and is read row for row (a resume counts the
    file's rows: one dropped would make it disagree with the run's saved state)."""
    path = tmp_path / "record.npz"
    w, labels = _writer(path)
    rows = [(0.0, np.zeros(13, bool)), (0.0, np.arange(13) < 2), (0.5, np.arange(13) < 5), (1.0, np.ones(13, bool))]
    for k, (e, c) in enumerate(rows):
        w.add(e, k, {"test": (c, np.where(c, labels, (labels + 1) % 10), np.full(13, 0.1 * k))})
    rec = load_record(path)
    assert list(rec.epoch) == [0.0, 0.0, 0.5, 1.0] and list(rec.step) == [0, 1, 2, 3]
    s = rec.split("test")
    assert np.array_equal(s.correct(), np.array([c for _, c in rows]))
    assert s.predicted.shape == s.p_true.shape == (4, 13)


def test_writer_resume_and_truncate(tmp_path):
    path = tmp_path / "record.npz"
    w, labels = _writer(path)
    for e in range(4):
        w.add(e, e, {"test": (np.arange(13) < e, labels, np.zeros(13))})
    rec = load_record(path)
    w2 = RecordWriter.resume(tmp_path / "again.npz", rec, 10)
    w2.truncate(2)
    w2.add(9, 9, {"test": (np.ones(13, bool), labels, np.zeros(13))})
    again = load_record(tmp_path / "again.npz")
    assert list(again.epoch) == [0, 1, 9]
    assert np.array_equal(again.split("test").correct()[:2], rec.split("test").correct()[:2])


def test_fingerprint_sees_ids_labels_and_data():
    ids, labels = np.arange(5), np.array([0, 1, 0, 1, 0])
    base = split_fingerprint("d", "test", ids, labels, "x")
    assert base == split_fingerprint("d", "test", ids, labels, "x")
    assert base != split_fingerprint("d", "test", ids[::-1], labels, "x")
    assert base != split_fingerprint("d", "test", ids, 1 - labels, "x")
    assert base != split_fingerprint("d", "test", ids, labels, "y")
    assert base != split_fingerprint("d", "train", ids, labels, "x")


def test_examples_round_trip(tmp_path):
    img = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8, 1)
    p = save_examples(tmp_path / "ex.npz", dataset="digits", kind="image", class_names=["a", "b"],
                      splits={"test": {"example_id": np.array([4, 9]), "label": np.array([0, 1]), "image": img}})
    got = load_examples(p)
    assert got["kind"] == "image" and got["class_names"] == ["a", "b"]
    assert np.array_equal(got["splits"]["test"]["image"], img)
    p.write_bytes(b"junk")
    with pytest.raises(RecordError):
        load_examples(p)


def test_a_published_record_has_the_mode_of_the_runs_other_files(tmp_path):
    """Readable by an MLflow server or UI running as another user, as the other artifacts are
    (a temporary file is private until renamed: it was 0600)."""
    w, labels = _writer(tmp_path / "record.npz")
    w.add(0.0, 0, {"test": (np.ones(13, bool), labels, np.full(13, 0.5))})
    (tmp_path / "other").write_bytes(b"x")
    mode = (tmp_path / "record.npz").stat().st_mode & 0o777
    assert mode == (tmp_path / "other").stat().st_mode & 0o777 and mode & 0o044
    ex = save_examples(tmp_path / "examples.npz", dataset="toy", kind="image", class_names=["a"],
                       splits={"test": {"example_id": np.arange(2), "label": np.zeros(2, int),
                                        "image": np.zeros((2, 2, 2, 1), np.uint8)}})
    assert ex.stat().st_mode & 0o777 == mode


def test_a_refused_checkpoint_leaves_the_writer_as_it_was():
    """RecordWriter.add checks the whole checkpoint (every split, its epoch and step) before it
    appends anything: a run's end publishes what the writer holds, and a checkpoint appended in part
    would make that record unreadable."""
    ids = {"train": (np.arange(20), np.zeros(20, int), "a"), "test": (np.arange(10), np.zeros(10, int), "b")}
    w = RecordWriter("/dev/null", {}, ids, 10)
    good = {s: (np.ones(n, bool), np.zeros(n, int), np.ones(n, np.float32)) for s, n in (("train", 20), ("test", 10))}
    w.add(0.0, 0, good, flush=False)
    for bad_results, epoch, step in (({**good, "test": tuple(a[:-1] for a in good["test"])}, 0.5, 1),
                                     (good, 0.5, "one")):
        with pytest.raises(ValueError):
            w.add(epoch, step, bad_results, flush=False)
        rec = w.build()
        assert rec.n_checkpoints == 1 and all(s.correct_bits.shape[0] == 1 == s.predicted.shape[0]
                                              for s in rec.splits.values())
