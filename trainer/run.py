"""The life of a study and of one network run in the store, shared by every kind of learner.

``prepare_study`` creates (or joins) the study for a dataset; ``NetworkRun`` is a context manager
around one network: it creates the child run, appends checkpoints to the record (published
atomically, see below), buffers metrics, and ends the run FINISHED, KILLED (Ctrl-C) or FAILED
(with the error as a tag). Checkpoints already recorded are never lost: each is in the published
record or in the training state saved with it.

Metrics and progress tags reach the store at most every ``FLUSH_EVERY_S`` seconds and when the run
ends: one MLflow ``log_batch`` costs a few milliseconds, as much as a small network's checkpoint,
so logging each checkpoint at once would make the store the bottleneck of small networks (and of
SQLite shared by parallel writers). The checkpoints whose metrics are still buffered travel in the
training state, so a resume re-logs whatever a kill caught in the buffer (only those: the whole
history would make each state grow with the run, and saving it cost quadratic time in the number of
checkpoints).

The record is one file rewritten whole, so each publication costs more than the last: a run of 200
checkpoints on CIFAR-10 would write 4 GB (and upload them to a tracking server) republishing its
record at every checkpoint. It is published at a checkpoint when the last publication took at most
``PUBLISH_SHARE`` of the time since, or when the training states saved since then carried as many
bytes of unpublished checkpoints as that publication wrote (see :class:`PublishClock`): at every
checkpoint while that is cheap (small records, or checkpoints far apart), less often as the record
grows, always when the run ends. The progress tags name the published checkpoints, and the
checkpoints not yet published travel in the training state, which is saved at every checkpoint: a
resume puts them back. A run that saves no training state (the scikit-learn learners) publishes at
every checkpoint.
"""
from __future__ import annotations

import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orderlab.record import RecordWriter, record_nbytes, save_examples
from orderlab.store import TAG_CHECKPOINTS, TAG_DEVICE, TAG_EPOCH, TAG_HEARTBEAT, TAG_NOTE, Store, study_fingerprint
from orderlab.trainer.data import Dataset

MAX_THUMBNAILS_PER_SPLIT = 2000
FLUSH_EVERY_S = 2.0   # buffered metrics and tags reach the store this often: `orderlab tui` polls every 2 s
PUBLISH_SHARE = 0.05  # at most this share of a run's time goes to republishing its record


@contextmanager
def ctrl_c_after():
    """Ctrl-C waits until the block is done: a checkpoint's record (or the training state that carries
    it) and its progress tag are written together, so a KILLED run's `orderlab.checkpoints` tag names
    the record's checkpoints.

    The SIGINT handler is swapped for one that only notes the signal, and the signal is raised again
    after the block. Masking SIGINT (pthread_sigmask) is not enough: it masks one thread, and the
    kernel hands a process-wide SIGINT to any other thread (MLflow's, torch's), whose C handler still
    makes the main thread raise. Python handlers always run in the main thread, whichever thread got
    the signal. Elsewhere than the main thread, or under a handler installed outside Python, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # SIGTERM too where a Python handler turns it into KeyboardInterrupt (the CLI's main does), and
    # SIGUSR1, a sweep's stop signal to its local workers (trainer.sweep.STOP_SIGNAL)
    stops = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGUSR1,) if hasattr(signal, "SIGUSR1") else ())
    signums = [s for s in stops if callable(signal.getsignal(s))]
    previous, caught = {s: signal.getsignal(s) for s in signums}, []
    for s in signums:
        signal.signal(s, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for s in signums:
            signal.signal(s, previous[s])
        if caught:
            # Now handled as it would have been (KeyboardInterrupt), by calling that handler here: a
            # signal raised again would run it at whatever bytecode comes next, which may be a garbage
            # collector or weakref callback, where the exception is printed and dropped.
            previous[caught[0]](caught[0], None)


class PublishClock:
    """Whether records are due for publication at a checkpoint: when the last round of publications
    took at most ``PUBLISH_SHARE`` of the time since it ended, or when the training states saved
    since carried as many bytes of unpublished checkpoints as that round wrote (deferring is not
    free: every state rewrites what is unpublished, and its share of each state grows with the gap;
    balancing the two keeps their sum within twice the cheaper). The runs of an ensemble, which
    checkpoint together, share one clock and decide once per checkpoint: each member timing only its
    own publications would count the others' as time passed, and K members could then spend up to
    K times the share."""

    def __init__(self) -> None:
        self.cost = 0.0                     # seconds the last round of publications took
        self.bytes = 0                      # bytes it wrote
        self.carried = 0                    # bytes of unpublished checkpoints in states saved since
        self.ended = time.monotonic()       # when its last publication ended
        self._step: int | None = None
        self._due = True

    def due(self, step: int) -> bool:
        if step != self._step:              # the first run of the group to reach this checkpoint
            self._step = step
            self._due = (self.cost <= PUBLISH_SHARE * (time.monotonic() - self.ended)
                         or self.carried >= self.bytes)
            if self._due:
                self.cost, self.bytes, self.carried = 0.0, 0, 0
        return self._due

    def spent(self, seconds: float, nbytes: int) -> None:
        self.cost += seconds
        self.bytes += nbytes
        self.ended = time.monotonic()

    def carry(self, nbytes: int) -> None:
        self.carried += nbytes


@dataclass
class StudyContext:
    store: Store
    study: str
    experiment_id: str
    parent_run_id: str
    dataset: Dataset
    record_splits: tuple[str, ...]
    fingerprints: dict[str, str]

    def split_info(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        out = {}
        for s in self.record_splits:
            _, y, ids = self.dataset.split(s)
            out[s] = (ids, y, self.fingerprints[s])
        return out


def prepare_study(store: Store, study: str, dataset: Dataset, record_splits: tuple[str, ...],
                  params: dict[str, Any] | None = None) -> StudyContext:
    """Create or join ``study``; refuse it when it holds other data. Stores the examples file: the
    class names, and thumbnails (images) or texts where the data has them."""
    fps = {s: dataset.fingerprint(s) for s in ("train", "test")}
    exp_id, parent = store.get_or_create_study(study, dataset.name, study_fingerprint(fps), params)
    if not store.has_examples(parent):
        splits = {}
        for s in ("train", "test"):
            t = dataset.thumbnails(s, MAX_THUMBNAILS_PER_SPLIT)
            if t:
                splits[s] = {**t, "label": dataset.split(s)[1][:len(t["example_id"])]}
        # Written for flat features too (no pictures): the class names are what lets
        # `orderlab examples --class 20` find an npz's label 20 once the labels are renumbered.
        with tempfile.TemporaryDirectory() as tmp:
            path = save_examples(Path(tmp) / "examples.npz", dataset=dataset.name, kind=dataset.kind,
                                 class_names=dataset.class_names, splits=splits)
            store.write_examples(parent, path)
    return StudyContext(store, study, exp_id, parent, dataset, tuple(record_splits), fps)


class NetworkRun:
    """One network's run: ``with NetworkRun(ctx, arch, seed, params, epochs) as run: ...``."""

    def __init__(self, ctx: StudyContext, arch: str, seed: int, params: dict[str, Any], epochs: float,
                 *, run_id: str | None = None, writer: RecordWriter | None = None,
                 unflushed: list[tuple[int, dict[str, float]]] | None = None,
                 clock: PublishClock | None = None):
        self.ctx = ctx
        self.store = ctx.store
        self.arch = arch
        self.seed = int(seed)
        self.params = params
        self.epochs = float(epochs)
        self.run_id = run_id
        self.writer = writer
        self.status: str | None = None
        self.running = False        # made RUNNING in the store by this process (created or reclaimed)
        self.ended = False          # then its end written there (else it shows as STALE)
        self._record_tmp = tempfile.TemporaryDirectory(prefix="orderlab-run-")
        self.artifact_uri: str | None = None
        # (step, metrics) a resumed run's state held unflushed: re-logged on entry where still missing
        self._restored: list[tuple[int, dict[str, float]]] = list(unflushed or [])
        self._pending: list[tuple[int, dict[str, float], int]] = []   # (step, metrics, unix ms)
        self._pending_tags: dict[str, str] = {}
        self.notes: list[str] = []                # see note()
        self._last_flush = time.monotonic()
        self._clock = clock or PublishClock()     # shared by an ensemble's members
        self._states = False                      # saves training states: they can carry checkpoints
        self._alive = False                       # a checkpoint since the last flush: heartbeat due
        # A resumed run: steps whose metrics the store already has. A run that restarts in place
        # records checkpoint 0 again, and its metrics must not be logged a second time.
        self._logged: set[int] = set()

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> "NetworkRun":
        ctx = self.ctx
        resumed = self.run_id is not None
        if resumed:
            self.store.reclaim(self.run_id)
        else:
            self.run_id, self.artifact_uri = self.store.create_network_run(
                ctx.study, ctx.parent_run_id, ctx.experiment_id, arch=self.arch, seed=self.seed,
                dataset=ctx.dataset.name, epochs=self.epochs, params=self.params)
        self.running = True
        try:
            if resumed:
                self.artifact_uri = self.store.get_run(self.run_id).artifact_uri
                self._logged = self.store.metric_steps(self.run_id, "epoch")
                self._relog_lost_metrics()
            self._last_flush = time.monotonic()
            if self.writer is None:
                meta = {"study": ctx.study, "arch": self.arch, "seed": self.seed, "dataset": ctx.dataset.name,
                        "n_classes": ctx.dataset.n_classes, "run_id": self.run_id}
                self.writer = RecordWriter(Path(self._record_tmp.name) / "record.npz", meta, ctx.split_info(),
                                           ctx.dataset.n_classes)
        except BaseException as e:
            # RUNNING in the store now, and no `with` body to end it: ended here (FAILED, or KILLED on
            # Ctrl-C), or it stayed RUNNING, then STALE, though the store could take its end
            try:
                self.__exit__(type(e), e, e.__traceback__)
            except Exception:  # noqa: BLE001 - nor could the store take that: STALE (``ended`` stays False)
                pass
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        # A second Ctrl-C (or the SIGTERM a sweep's worker gets when its main process exits) waits
        # until the run has ended: cut here, the run would stay RUNNING, then show as STALE.
        with ctrl_c_after():
            self._end(exc_type, exc)
        return False

    def _end(self, exc_type, exc) -> None:
        try:
            failed = None
            for write in (self.publish, self.flush):    # the metrics still go out if publishing fails
                try:
                    write()
                except Exception as e:  # noqa: BLE001 - the run still ends; an earlier error matters more
                    failed = failed or e
            if failed is not None and exc_type is None:
                self.status = "FAILED"
                try:
                    self.store.end_run(self.run_id, "FAILED", error=f"{type(failed).__name__}: {failed}")
                except Exception as e:  # noqa: BLE001 - the store is gone too: say what failed first
                    raise e from failed
                self.ended = True
                raise failed
            if exc_type is None:
                self.status = "FINISHED"
                self.store.end_run(self.run_id, "FINISHED")
            elif issubclass(exc_type, KeyboardInterrupt):
                self.status = "KILLED"
                self.store.end_run(self.run_id, "KILLED", error="interrupted (Ctrl-C or SIGTERM)")
            else:
                self.status = "FAILED"
                self.store.end_run(self.run_id, "FAILED", error=f"{exc_type.__name__}: {exc}")
            self.ended = True
        finally:
            self._record_tmp.cleanup()

    # -- recording ---------------------------------------------------------
    def checkpoint(self, epoch: float, step: int, results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                   metrics: dict[str, float] | None = None) -> None:
        """Append one checkpoint to the record, publish the record when that is cheap enough (see
        the module's doc), and buffer the checkpoint's metrics."""
        assert self.writer is not None and self.run_id is not None
        metrics = dict(metrics or {})
        with ctrl_c_after():
            self.writer.add(epoch, step, results, flush=False)
            if int(step) not in self._logged:
                self._pending.append((int(step), metrics, int(time.time() * 1000)))
            self._alive = True
            # without training states, nothing would carry an unpublished checkpoint through a kill
            if self._clock.due(int(step)) or not self._states:
                self.publish()
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def publish(self) -> None:
        """Publish the record with every checkpoint so far (atomically for local stores) and set the
        progress tags to name them (written with the next flush)."""
        w = self.writer
        if self.run_id is None or w is None or w.published == w.n_checkpoints:
            return
        with ctrl_c_after():
            t = time.monotonic()
            rec = w.build()
            self.store.write_record(self.run_id, rec, self.artifact_uri)
            self._clock.spent(time.monotonic() - t, record_nbytes(rec))
            w.published = w.n_checkpoints
            self._pending_tags.update({TAG_CHECKPOINTS: str(w.n_checkpoints), TAG_EPOCH: f"{w.last_epoch:.6g}"})

    def carry_unpublished(self) -> tuple[int, list]:
        """(checkpoints the published record holds, the checkpoints after them), for the training
        state about to be saved to carry, so that a resume puts back what a kill left unpublished.
        Also notes that this run saves states (it may then defer publishing) and counts the bytes
        carried towards the next publication (:class:`PublishClock`)."""
        assert self.writer is not None
        rows = self.writer.rows(self.writer.published)
        self._states = True
        self._clock.carry(sum(a.nbytes for _, _, splits in rows for arrays in splits.values() for a in arrays))
        return self.writer.published, rows

    def flush(self) -> None:
        """Write buffered metrics and tags (with a heartbeat) in one batched call."""
        if self.run_id is None or not (self._pending or self._pending_tags or self._alive):
            return
        tags = {**self._pending_tags, TAG_HEARTBEAT: f"{time.time():.3f}"}
        self.store.log_metric_points(self.run_id, self._pending, tags)
        self._pending, self._pending_tags, self._alive = [], {}, False
        self._last_flush = time.monotonic()

    def trained_on(self, device: str) -> None:
        """Name the device the network trains on (a tag, written with the next flush): its params
        keep ``--device`` as given, ``auto`` included, which would not say which card it was."""
        self._pending_tags[TAG_DEVICE] = device

    def note(self, text: str) -> None:
        """Say what this run did otherwise than asked (a tag, written with the next flush; the
        command prints it when the run ends)."""
        self.notes.append(text)
        self._pending_tags[TAG_NOTE] = "; ".join(self.notes)

    def unflushed(self) -> list[tuple[int, dict[str, float]]]:
        """(step, metrics) of the checkpoints whose metrics have not reached the store yet: saved with
        the training state, so that a resume can log what a kill caught in the buffer."""
        return [(step, m) for step, m, _ in self._pending]

    def _relog_lost_metrics(self) -> None:
        """On resume: log the saved checkpoints' metrics that never reached the store (killed while
        buffered). States written before orderlab saved only those hold the whole history: the
        steps the store has are skipped either way."""
        lost = [(step, m) for step, m in self._restored if step not in self._logged]
        if lost:
            self.store.log_metric_points(self.run_id, lost)
            self._logged.update(step for step, _ in lost)
        self._restored = []
