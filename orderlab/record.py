"""The correctness record: one versioned ``.npz`` file per network run.

This module owns the on-disk format. Everything else (trainer, analysis, app,
export) reads and writes records only through it.

Layout of ``record.npz`` (all arrays plain; loaded with ``allow_pickle=False``)::

    format_version      int64 scalar            FORMAT_VERSION
    meta                str scalar              JSON: study, arch, seed, dataset, n_classes, run_id ...
    epoch               float64 [C]             checkpoint positions in epochs (checkpoint 0 = untrained)
    step                int64   [C]             checkpoint positions in optimiser steps
    splits              str     [S]             recorded split names, e.g. ["train", "test"]
    <split>/example_id  int64   [N]             ids of the recorded examples (indices into the full split)
    <split>/label       int64   [N]             true labels
    <split>/fingerprint str scalar              fingerprint of the data split (see split_fingerprint)
    <split>/correct     uint8   [C, ceil(N/8)]  np.packbits(correct, axis=-1), big bit order
    <split>/predicted   uint8|int16|int32 [C, N]  predicted label (label_dtype)
    <split>/p_true      float16 [C, N]          probability of the true label

Writes are atomic (temporary file + ``os.replace``), so a reader following a
live run never sees a torn file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.publish import replace_file

FORMAT_VERSION = 1
RECORD_FILENAME = "record.npz"


class RecordError(OrderlabError, ValueError):
    """A record file is missing, corrupt, of another format version, or mismatched.

    ``path`` names the file and ``problem`` what is wrong with it, without a fix (``"is missing
    (PATH does not exist)"``, ``"is corrupt (...)"``): callers that know the file's run
    (:func:`orderlab.studydata.load_records`) put them into a message naming the run and its fix."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, problem: str | None = None):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.problem = problem


def _damage(e: BaseException) -> str:
    """What is wrong with a record file that numpy could not read, in a few words (numpy's own
    messages can suggest ``allow_pickle``, which no record ever needs)."""
    if isinstance(e, zipfile.BadZipFile):
        return "not a complete .npz (zip) file: truncated or overwritten"
    if isinstance(e, EOFError):
        return "the file is empty"
    if isinstance(e, KeyError):
        name = str(e.args[0]).split(" is not a file")[0] if e.args else "?"
        return f"array {name} is missing"
    if isinstance(e, ValueError) and "pickle" in str(e):
        return "not an .npz file: it is neither a zip archive nor a numpy array"
    if isinstance(e, json.JSONDecodeError):
        return "its metadata is not valid JSON"
    if isinstance(e, OSError):
        return f"cannot be read: {e.strerror or type(e).__name__}"
    return f"{type(e).__name__}: {str(e).split('. ')[0]}"


def split_fingerprint(dataset: str, split: str, example_id: np.ndarray, label: np.ndarray,
                      data_digest: str = "") -> str:
    """A short stable hash naming exactly which examples (and labels, and data) a split holds.

    Records with different fingerprints are never compared.
    """
    h = hashlib.sha256()
    h.update(f"{dataset}\0{split}\0".encode())
    h.update(np.ascontiguousarray(example_id, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(label, dtype=np.int64).tobytes())
    h.update(data_digest.encode())
    return h.hexdigest()[:16]


def label_dtype(n_classes: int) -> np.dtype:
    return np.dtype(np.uint8) if n_classes <= 256 else np.dtype(np.int16 if n_classes <= 32767 else np.int32)


@dataclass
class SplitRecord:
    """Correctness of one network on one split over all recorded checkpoints."""

    split: str
    example_id: np.ndarray          # int64 [N]
    label: np.ndarray               # int64 [N]
    fingerprint: str
    correct_bits: np.ndarray        # uint8 [C, ceil(N/8)]
    predicted: np.ndarray           # small int [C, N]
    p_true: np.ndarray              # float16 [C, N]

    @property
    def n_examples(self) -> int:
        return int(self.example_id.shape[0])

    @property
    def n_checkpoints(self) -> int:
        return int(self.correct_bits.shape[0])

    def correct(self) -> np.ndarray:
        """Unpacked correctness, bool [C, N]."""
        return np.unpackbits(self.correct_bits, axis=-1, count=self.n_examples).astype(bool)

    def last_accuracy(self) -> float | None:
        """Accuracy at the last checkpoint (None: no checkpoint or no example)."""
        if not self.n_checkpoints or not self.n_examples:
            return None
        return last_accuracy(self.correct_bits, self.n_examples)


def last_accuracy(bits: np.ndarray, n: int) -> float:
    """The share of ``n`` examples right at the last checkpoint of packed correctness ``bits``."""
    return float(np.unpackbits(bits[-1], count=n).sum()) / n


@dataclass
class Record:
    """Everything recorded for one network."""

    meta: dict
    epoch: np.ndarray               # float64 [C]
    step: np.ndarray                # int64 [C]
    splits: dict[str, SplitRecord] = field(default_factory=dict)

    @property
    def n_checkpoints(self) -> int:
        return int(self.epoch.shape[0])

    def split(self, name: str) -> SplitRecord:
        try:
            return self.splits[name]
        except KeyError:
            have = ", ".join(self.splits) or "none"
            raise RecordError(f"split {name!r} was not recorded (recorded: {have}); "
                              f"train with --record-splits including {name}") from None


def _to_arrays(rec: Record) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "meta": np.array(json.dumps(rec.meta, sort_keys=True)),
        "epoch": np.asarray(rec.epoch, dtype=np.float64),
        "step": np.asarray(rec.step, dtype=np.int64),
        "splits": np.array(list(rec.splits), dtype=str),
    }
    for name, s in rec.splits.items():
        arrays[f"{name}/example_id"] = np.asarray(s.example_id, dtype=np.int64)
        arrays[f"{name}/label"] = np.asarray(s.label, dtype=np.int64)
        arrays[f"{name}/fingerprint"] = np.array(s.fingerprint)
        arrays[f"{name}/correct"] = np.asarray(s.correct_bits, dtype=np.uint8)
        arrays[f"{name}/predicted"] = np.asarray(s.predicted)
        arrays[f"{name}/p_true"] = np.asarray(s.p_true, dtype=np.float16)
    return arrays


def record_nbytes(rec: Record) -> int:
    """The bytes of a record's arrays: about the size of its file (npz stores them uncompressed)."""
    return sum(a.nbytes for s in rec.splits.values()
               for a in (s.example_id, s.label, s.correct_bits, s.predicted, s.p_true))


def _umask() -> int:
    """This process's umask, without changing it (where /proc says so; else set and put back)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()     # what open() would give: mkstemp's files are private (0600)


def _open_temp(path: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A temporary file beside ``path`` with the mode of a file opened normally, so that a record
    published by renaming it is readable as the run's other artifacts are (an MLflow server or UI
    running as another user)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
    except OSError:
        pass
    return fd, tmp


def save_record(rec: Record, path: str | os.PathLike) -> Path:
    """Write ``rec`` to ``path`` atomically (no reader ever sees a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path, ".record-", ".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            # No fsync: os.replace already guarantees readers and crashed processes never see a torn
            # file; fsync only adds power-loss durability, at ~5 ms a checkpoint.
            np.savez(fh, **_to_arrays(rec))
        replace_file(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def check_owner(rec: Record, path: str | os.PathLike, run_id: str, arch: str | None = None,
                seed: int | None = None) -> None:
    """Refuse a record that names another network than the run it was read from (a file copied
    from another run would otherwise be analysed as this run's network). Records name their run,
    architecture and seed in ``meta``; what a record does not name is not checked."""
    m = rec.meta
    other = (m.get("run_id") not in (None, run_id) or (arch is not None and m.get("arch") not in (None, arch))
             or (seed is not None and m.get("seed") is not None and int(m["seed"]) != int(seed)))
    if other:
        names = (f"run {m.get('run_id', '?')}, {m.get('arch', '?')}/s{m.get('seed', '?')}"
                 + (f" of study {m['study']!r}" if m.get("study") else ""))
        problem = f"belongs to another network ({path} names {names}: copied from another run?)"
        raise RecordError(f"record {path} {problem}; put the run's own record back, or delete the run in MLflow "
                          f"and train the network again", path=path, problem=problem)


def recorded_last(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, float]] | None:
    """The checkpoint epochs a record file holds and each split's accuracy at its last checkpoint
    (read from the packed correctness), or None when the file is missing or unreadable: a quick
    look for listings, not a check (:func:`load_record` checks)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            epochs = z["epoch"].astype(np.float64)
            accs = {}
            for name in (str(s) for s in z["splits"]):
                bits, n = z[f"{name}/correct"], len(z[f"{name}/example_id"])
                if len(epochs) and bits.shape[0] == len(epochs) and n:
                    accs[name] = last_accuracy(bits, n)
            return epochs, accs
    except (OSError, ValueError, KeyError, EOFError, IndexError, zipfile.BadZipFile):
        return None


def load_record(path: str | os.PathLike) -> Record:
    """Read a record; any damage or version mismatch raises :class:`RecordError`."""
    path = Path(path)
    if not path.exists():
        problem = f"is missing ({path} does not exist)"
        raise RecordError(f"record file {path} does not exist; if the file was moved, put it back, else "
                          f"delete the network's run in MLflow and train the network again",
                          path=path, problem=problem)
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != FORMAT_VERSION:
                problem = (f"has record format version {version} ({path}), this orderlab reads version "
                           f"{FORMAT_VERSION}")
                raise RecordError(f"record {path} has format version {version}, this orderlab reads "
                                  f"version {FORMAT_VERSION}; upgrade orderlab or re-record",
                                  path=path, problem=problem)
            meta = json.loads(str(z["meta"]))
            epoch = z["epoch"].astype(np.float64)
            step = z["step"].astype(np.int64)
            # positions are matched across networks and read in order: reversed, negative or NaN
            # ones would be analysed as another training's without a word
            if (epoch.ndim != 1 or step.shape != epoch.shape or not np.isfinite(epoch).all()
                    or (epoch < 0).any() or (np.diff(epoch) < 0).any()):
                what = "its checkpoint epochs are not increasing, finite, non-negative numbers"
                raise RecordError(f"record {path} is inconsistent: {what}; delete the network's run in MLflow and "
                                  f"train the network again", path=path, problem=f"is inconsistent ({path}: {what})")
            # A position recorded twice is read as written: runs resumed from their untrained state
            # before 2026-11-25 recorded checkpoint 0 again, and a resume counts the file's rows.
            splits: dict[str, SplitRecord] = {}
            for name in [str(s) for s in z["splits"]]:
                s = SplitRecord(
                    split=name,
                    example_id=z[f"{name}/example_id"],
                    label=z[f"{name}/label"],
                    fingerprint=str(z[f"{name}/fingerprint"]),
                    correct_bits=z[f"{name}/correct"],
                    predicted=z[f"{name}/predicted"],
                    p_true=z[f"{name}/p_true"],
                )
                c, n = epoch.shape[0], s.example_id.shape[0]
                if (s.correct_bits.shape != (c, (n + 7) // 8) or s.predicted.shape != (c, n)
                        or s.p_true.shape != (c, n) or s.label.shape != (n,)):
                    problem = (f"is inconsistent ({path}: split {name!r} arrays do not match {c} checkpoints "
                               f"x {n} examples)")
                    raise RecordError(f"record {path} is inconsistent: split {name!r} arrays do not match {c} "
                                      f"checkpoints x {n} examples; delete the network's run in MLflow and "
                                      f"train the network again", path=path, problem=problem)
                splits[name] = s
    except RecordError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, json.JSONDecodeError) as e:
        why = _damage(e)
        raise RecordError(f"record {path} is corrupt or not an orderlab record ({why}); delete the network's "
                          f"run in MLflow and train the network again",
                          path=path, problem=f"is corrupt ({path}: {why})") from None
    return Record(meta=meta, epoch=epoch, step=step, splits=splits)


class RecordWriter:
    """Builds a record checkpoint by checkpoint; the file is rewritten whole, atomically.

    ``splits`` maps split name to ``(example_id, label, fingerprint)``. ``published`` counts the
    checkpoints the run's published record is known to hold (it may hold more: a kill between a
    publication and the training state), kept by whoever publishes it (orderlab.trainer.run, which
    publishes only some checkpoints): the rows after them travel in the training state, for a resume
    to put back.
    """

    def __init__(self, path: str | os.PathLike, meta: dict, splits: dict[str, tuple],
                 n_classes: int):
        self.path = Path(path)
        self.meta = dict(meta)
        self.n_classes = int(n_classes)
        self._split_info = {k: (np.asarray(i, dtype=np.int64), np.asarray(l, dtype=np.int64), str(f))
                            for k, (i, l, f) in splits.items()}
        self._epoch: list[float] = []
        self._step: list[int] = []
        self._bits: dict[str, list[np.ndarray]] = {k: [] for k in splits}
        self._pred: dict[str, list[np.ndarray]] = {k: [] for k in splits}
        self._ptrue: dict[str, list[np.ndarray]] = {k: [] for k in splits}
        self.published = 0

    @classmethod
    def resume(cls, path: str | os.PathLike, rec: Record, n_classes: int) -> "RecordWriter":
        """Continue writing an existing record (used by resume)."""
        w = cls(path, rec.meta, {k: (s.example_id, s.label, s.fingerprint) for k, s in rec.splits.items()},
                n_classes)
        w._epoch = [float(e) for e in rec.epoch]
        w._step = [int(s) for s in rec.step]
        for k, s in rec.splits.items():
            w._bits[k] = list(s.correct_bits)
            w._pred[k] = list(s.predicted)
            w._ptrue[k] = list(s.p_true)
        w.published = rec.n_checkpoints
        return w

    def truncate(self, n_checkpoints: int) -> None:
        """Drop checkpoints after the first ``n_checkpoints`` (resume from an earlier state)."""
        del self._epoch[n_checkpoints:], self._step[n_checkpoints:]
        for k in self._bits:
            del self._bits[k][n_checkpoints:], self._pred[k][n_checkpoints:], self._ptrue[k][n_checkpoints:]
        self.published = min(self.published, n_checkpoints)

    def rows(self, start: int) -> list[tuple[float, int, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]]:
        """Checkpoints ``start`` onwards as stored: (epoch, step, {split: (packed correctness,
        predicted, p_true)}), for a training state to carry what the published file lacks."""
        return [(self._epoch[i], self._step[i], {k: (self._bits[k][i], self._pred[k][i], self._ptrue[k][i])
                                                 for k in self._bits})
                for i in range(start, self.n_checkpoints)]

    def extend(self, rows: list) -> None:
        """Append checkpoints given as :meth:`rows` gives them (a resume putting back what a training
        state carried, or :meth:`add`); each must fit the record's splits, and none is appended
        unless all do."""
        checked = []
        for epoch, step, splits in rows:
            if set(splits) != set(self._split_info):
                raise ValueError(f"carried checkpoint has splits {sorted(splits)}, expected {sorted(self._split_info)}")
            for k, (bits, pred, ptrue) in splits.items():
                n = self._split_info[k][0].shape[0]
                if bits.shape != ((n + 7) // 8,) or pred.shape != (n,) or ptrue.shape != (n,):
                    raise ValueError(f"carried checkpoint of split {k!r} does not hold {n} examples")
            checked.append((float(epoch), int(step), splits))
        dt = label_dtype(self.n_classes)
        for epoch, step, splits in checked:
            for k, (bits, pred, ptrue) in splits.items():
                self._bits[k].append(np.asarray(bits, dtype=np.uint8))
                self._pred[k].append(np.asarray(pred).astype(dt, copy=False))
                self._ptrue[k].append(np.asarray(ptrue, dtype=np.float16))
            self._epoch.append(epoch)
            self._step.append(step)

    @property
    def n_checkpoints(self) -> int:
        return len(self._epoch)

    @property
    def last_epoch(self) -> float:
        return self._epoch[-1] if self._epoch else 0.0

    def add(self, epoch: float, step: int, results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
            flush: bool = True) -> None:
        """Append one checkpoint. ``results[split] = (correct bool [N], predicted int [N], p_true float [N])``."""
        if set(results) != set(self._split_info):
            raise ValueError(f"checkpoint has splits {sorted(results)}, expected {sorted(self._split_info)}")
        rows = {}
        for k, (correct, pred, ptrue) in results.items():
            n = self._split_info[k][0].shape[0]
            correct, pred, ptrue = np.asarray(correct, dtype=bool), np.asarray(pred), np.asarray(ptrue)
            if correct.shape != (n,) or pred.shape != (n,) or ptrue.shape != (n,):
                raise ValueError(f"split {k}: expected {n} examples, got {correct.shape}, {pred.shape}, "
                                 f"{ptrue.shape}")
            rows[k] = (np.packbits(correct), pred, ptrue)
        self.extend([(epoch, step, rows)])
        if flush:
            self.flush()

    def build(self) -> Record:
        splits = {}
        for k, (ids, labels, fp) in self._split_info.items():
            n = ids.shape[0]
            empty_bits = np.zeros((0, (n + 7) // 8), np.uint8)
            splits[k] = SplitRecord(
                split=k, example_id=ids, label=labels, fingerprint=fp,
                correct_bits=np.stack(self._bits[k]) if self._bits[k] else empty_bits,
                predicted=(np.stack(self._pred[k]) if self._pred[k]
                           else np.zeros((0, n), label_dtype(self.n_classes))),
                p_true=np.stack(self._ptrue[k]) if self._ptrue[k] else np.zeros((0, n), np.float16),
            )
        return Record(meta=self.meta, epoch=np.array(self._epoch, dtype=np.float64),
                      step=np.array(self._step, dtype=np.int64), splits=splits)

    def flush(self) -> Path:
        return save_record(self.build(), self.path)


# ---------------------------------------------------------------- thumbnails

THUMBNAILS_FILENAME = "examples.npz"


def save_examples(path: str | os.PathLike, *, dataset: str, kind: str, class_names: list[str],
                  splits: dict[str, dict]) -> Path:
    """Study-level pictures (or texts) of recorded examples, so readers never load datasets.

    ``splits[name] = {"example_id": int64 [M], "image": uint8 [M, H, W, C]}`` for images
    (H, W <= 32) or ``{"example_id": ..., "text": str [M]}`` for text, each with ``"label"``.
    ``kind`` is the dataset kind (image/features/text); ``class_names`` name the labels.
    """
    arrays: dict[str, np.ndarray] = {"format_version": np.array(FORMAT_VERSION, dtype=np.int64),
                                     "dataset": np.array(dataset), "kind": np.array(kind),
                                     "class_names": np.array(class_names, dtype=str),
                                     "splits": np.array(list(splits), dtype=str)}
    for name, d in splits.items():
        for key, value in d.items():
            arrays[f"{name}/{key}"] = np.asarray(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path, ".examples-", ".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)
    return path


def load_examples(path: str | os.PathLike) -> dict:
    """Inverse of :func:`save_examples`: ``{"dataset", "kind", "class_names",
    "splits": {split: {"example_id", "label", "image"|"text"}}}``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            splits: dict[str, dict[str, np.ndarray]] = {}
            for name in [str(s) for s in z["splits"]]:
                splits[name] = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(name + "/")}
            return {"dataset": str(z["dataset"]), "kind": str(z["kind"]),
                    "class_names": [str(c) for c in z["class_names"]], "splits": splits}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        why = _damage(e) if not isinstance(e, OSError) else (e.strerror or str(e))
        raise RecordError(f"examples file {path} is damaged ({why})", path=path, problem=f"is damaged ({why})") from None
