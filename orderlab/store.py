"""The MLflow layout of orderlab: the one module that knows how studies live in MLflow.

* A **study** is an MLflow experiment (named after the study) holding one **parent run**
  (tag ``orderlab.kind=study``) and one **child run per network** (tag ``orderlab.kind=network``,
  ``mlflow.parentRunId`` = the parent run).
* Each network run carries its hyperparameters as params, tags ``orderlab.study``,
  ``orderlab.arch``, ``orderlab.dataset``, ``orderlab.seed``, progress tags
  (``orderlab.checkpoints``, ``orderlab.epoch``, ``orderlab.heartbeat``) and its correctness
  record as the artifact ``record/record.npz`` (format: :mod:`orderlab.record`), rewritten
  atomically as the run trains (trainer/run.py says when).
* The parent run holds study-level artifacts: ``examples/examples.npz`` (thumbnails or texts
  of the recorded examples).
* The latest ``orderlab report`` is a **report run** (tag ``orderlab.kind=report``, a child of the
  parent run): the report's files under ``report/`` and its TPA curves as metrics. A new report
  makes a new report run and then deletes the earlier one, because MLflow's metric history only
  grows: curves logged again to one run would repeat their steps with old and new values mixed.

The default store is SQLite at ``./mlruns/mlflow.db`` with artifacts under ``./mlruns/``.
mlflow is imported lazily so that ``orderlab --help`` and the TUI start fast.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from orderlab.errors import OrderlabError
from orderlab.publish import replace_file
from orderlab.record import RECORD_FILENAME, THUMBNAILS_FILENAME, Record, RecordError, check_owner, load_examples, load_record, save_record

T = TypeVar("T")

DEFAULT_STORE_DIR = "mlruns"
DEFAULT_DB_NAME = "mlflow.db"

# Statuses of a run that stopped before finishing: resumable, and left out of analyses by default
# (with align="common" such a run would cut every curve back to its last checkpoint).
ENDED_EARLY = ("KILLED", "FAILED", "STALE")
PLAN_LIST_AGE_S = 30.0      # how old a server's listing of a study's plans may be for counts and notes

# The optimizer param of a learner's run (it has none): how a run says its checkpoints are stages.
LEARNER_OPTIMIZER = "-"
TAG_KIND = "orderlab.kind"            # "study" | "network" | "report"
TAG_STUDY = "orderlab.study"
TAG_ARCH = "orderlab.arch"
TAG_DATASET = "orderlab.dataset"
TAG_SEED = "orderlab.seed"
TAG_CHECKPOINTS = "orderlab.checkpoints"   # number of checkpoints recorded so far
TAG_EPOCH = "orderlab.epoch"               # epochs completed so far (float)
TAG_EPOCHS = "orderlab.epochs"             # epochs planned
TAG_HEARTBEAT = "orderlab.heartbeat"       # unix time of the last sign of life
TAG_HOST = "orderlab.host"
TAG_PID = "orderlab.pid"
TAG_DEVICE = "orderlab.device"           # where the network trained: "cpu", "cuda:0 (NVIDIA H100 …)"
TAG_ERROR = "orderlab.error"
TAG_NOTE = "orderlab.note"                 # what a finished run did otherwise than asked (a learner that stopped early)
TAG_FINGERPRINT = "orderlab.fingerprint"   # "split=fp,split=fp" of the study's data
TAG_PARENT = "mlflow.parentRunId"
TAG_SUPERSEDED = "orderlab.superseded_by"  # an unresumable run whose network was trained anew in that run
# On a study's experiment, one tag per architecture a train or sweep set out to train (value "1"):
# the studies list names them before their first run starts. A tag each, so that processes planning
# at once never overwrite each other's.
TAG_PLANNED_ARCH = "orderlab.planned_arch."

RECORD_ARTIFACT_DIR = "record"
EXAMPLES_ARTIFACT_DIR = "examples"
SWEEP_ARTIFACT_DIR = "sweeps"              # on a study's parent run: what each sweep set out to train
STATE_ARTIFACT_DIR = "state"
STATE_FILENAME = "state.pt"                  # a run's latest training state (resume), torch.save
REPORT_ARTIFACT_DIR = "report"

# A RUNNING run whose heartbeat is older than this (and whose process is not known alive) is stale.
STALE_AFTER_S = 300.0


def study_fingerprint(fps: dict[str, str]) -> str:
    """A study's data as its ``TAG_FINGERPRINT`` holds it: ``"test=…,train=…"``, one fingerprint per split."""
    return ",".join(f"{k}={v}" for k, v in sorted(fps.items()))


def split_fingerprints(study_fp: str) -> dict[str, str]:
    """The per-split fingerprints of a ``TAG_FINGERPRINT`` value (empty for studies without one)."""
    return dict(p.split("=", 1) for p in (study_fp or "").split(",") if "=" in p)


def start_server_advice(uri: str, answered: bool = False) -> str:
    """How to start the tracking server ``uri`` names (a well-formed http(s) URI), for a message.
    On this machine, plain http, nothing listening: the command, on the URI's port (the advice
    said `mlflow server --host 127.0.0.1`, which listens on 5000 whatever port the URI named).
    Elsewhere, over https (which `mlflow server` does not serve: a proxy in front of it does), or
    where something ``answered`` on the port (a proxy: a server started there would find the port
    taken), the server to start at that address."""
    url = urllib.parse.urlparse(uri)
    port = 80 if url.port is None else url.port
    host = url.hostname or ""
    if url.scheme == "http" and host in ("127.0.0.1", "localhost", "::1") and not answered:
        return f"start it (e.g. `mlflow server --host {host} --port {port}`)"
    where = url.netloc.rsplit("@", 1)[-1] or uri            # (no credentials in a message)
    return f"start the server{' behind the proxy' if answered else ' (or the proxy in front of it)'} at {where}"


class StoreError(OrderlabError):
    """The tracking store is unreachable, or a study/run asked for does not exist."""


class NoSuchStudy(StoreError):
    """The store answers but holds no study of that name (yet: `orderlab tui --study` waits for it)."""


class ReadOnlyStore(StoreError):
    """The store's database cannot be written (an archived copy): reading it still works."""


# ------------------------------------------------------------------ URIs

def default_tracking_uri(root: str | os.PathLike | None = None) -> str:
    root = Path(root or os.getcwd()).resolve()
    return f"sqlite:///{root / DEFAULT_STORE_DIR / DEFAULT_DB_NAME}"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """Explicit URI, else ``MLFLOW_TRACKING_URI``, else the embedded default store. A SQLite path is
    made absolute (``sqlite:///mlruns/mlflow.db`` is relative to the working folder), so that the
    study's artifact folder has a file URI and worker processes elsewhere find the same file."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////") and uri != "sqlite:///:memory:":
        uri = f"sqlite:///{Path(uri[len('sqlite:///'):]).absolute()}"
    return uri


def sqlite_path(uri: str) -> Path:
    """The file behind a ``sqlite:///`` URI as SQLAlchemy opens it: without ``?options``, %XX decoded."""
    return Path(urllib.parse.unquote(uri[len("sqlite:///"):].split("?", 1)[0]))


def run_folder_holding(path: Path) -> Path | None:
    """The run's folder of files (``…/RUN_ID/artifacts``, as MLflow lays out a local store: records,
    states, a study's thumbnails and plans) that ``path`` lies in, where a file written by hand (an
    export named after a record) would replace what was recorded; else None. By the layout alone,
    so a store moved or copied, or a study of any name, is covered too."""
    at = Path(path).expanduser().resolve()
    for p in at.parents:
        if p.name == "artifacts" and re.fullmatch(r"[0-9a-f]{32}", p.parent.name):
            return p
    return None


def _local_path(uri: str) -> Path | None:
    """The filesystem path behind a ``file:`` (or plain path) artifact URI, else None."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def _quiet_mlflow_env() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # The http client otherwise retries an unreachable server for minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # With a server, MLflow prints two "View run/experiment at" lines on stdout as each run ends:
    # 200 lines for 100 networks, through orderlab's progress and under --quiet.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


_WAL_SET = False


def _sqlite_wal() -> None:
    """Every SQLite connection of this process in WAL mode with synchronous=NORMAL: readers (the
    TUI) never block the writers of a parallel sweep, and a commit costs no fsync (the database
    stays consistent; a power cut may lose the last commits). Registered once, before MLflow
    opens its engine."""
    global _WAL_SET
    if _WAL_SET:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError:
                pass    # locked while another process switches it: that one sets WAL for the file
            finally:
                cur.close()
    _WAL_SET = True


SCHEMA_LOCK_TIMEOUT = 120.0   # seconds; creating a new store's schema takes 1-2 s
PARENT_WAIT_S = 10.0          # a tracking server: how long a study's other starters wait for its creator


@contextmanager
def _store_lock(uri: str, while_: str = "opening the store"):
    """A SQLite store's file lock (``mlflow.db.lock``), across processes and threads, held

    * while a process opens the store: MLflow creates a new store's schema on the first connection,
      as a chain of migrations, and a second process opening it meanwhile fails on the half-made
      schema ("no such column ..."): two `orderlab train` started at once on a fresh store, or a
      sweep and a TUI. One process at a time; then it is a no-op costing a file lock;
    * while a new study's parent run is created: MLflow has no unique key for runs, and two
      processes starting the same study at once would otherwise each make one."""
    try:
        import fcntl
    except ImportError:       # Windows: no flock; there, start the first process on a new store alone
        yield
        return
    path = sqlite_path(uri)
    lock = path.with_name(path.name + ".lock")
    try:
        f = open(lock, "a")
    except OSError:           # a store read from a read-only folder: nobody creates its schema there
        yield
        return
    with f:
        deadline = time.monotonic() + SCHEMA_LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another process has held {lock} for {SCHEMA_LOCK_TIMEOUT:.0f} s while "
                                     f"{while_}; stop it (or delete the lock file) and retry") from None
                time.sleep(0.05)
            except OSError:   # a file system without locks (some network mounts): go on without
                yield
                return
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# MLflow's tracking stores besides SQLite files and http(s) servers (SQLAlchemy databases, Databricks).
_DB_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc",
               "uc") + tuple(f"{db}+{drv}" for db, drvs in (("postgresql", ("psycopg2", "psycopg", "pg8000")),
                                                           ("mysql", ("pymysql", "mysqldb", "mysqlconnector")),
                                                           ("mssql", ("pyodbc", "pymssql")))
                             for drv in drvs)
_CHECKED: set[str] = set()       # SQLite files found to be databases by this process


def _sqlite_files(db: Path) -> tuple[Path, ...]:
    return db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")


def _sqlite_files_present(db: Path) -> set[Path]:
    return {p for p in _sqlite_files(db) if os.path.lexists(p)}


def _remove_new_sqlite(db: Path, before: set[Path]) -> None:
    """Remove the files of a SQLite store this process began and could not finish making: those
    absent before it began (``before``: the files there then), and regular files only."""
    import stat
    for p in _sqlite_files(db):
        try:
            if p not in before and stat.S_ISREG(os.lstat(p).st_mode):
                p.unlink()
        except OSError:
            pass
    _CHECKED.discard(str(db))


def _make_store_folder(db: Path) -> None:
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the store folder {db.parent} ({e.strerror}); "
                         f"choose another --tracking-uri") from None


def _check_sqlite(db: Path, must_exist: bool) -> None:
    """Fail fast on a SQLite store that MLflow would retry for minutes: a missing one (when only
    reading), a file that is not a database, or a folder where SQLite cannot write its journal."""
    if must_exist and not db.exists():
        raise StoreError(f"no orderlab store at {db}; train a study first (`orderlab train ...`) or point "
                         f"--tracking-uri at an existing store")
    if db.is_dir():
        raise StoreError(f"the store path {db} is a folder, not a SQLite file; use "
                         f"--tracking-uri sqlite:///{db}/mlflow.db")
    if db.exists() and not db.is_file():
        raise StoreError(f"the store path {db} is not a regular file (a device or a pipe); point --tracking-uri "
                         f"at a SQLite file, e.g. sqlite:///mlruns/mlflow.db")
    # The folder is made when the store is (Store.client), not here: a command refused later (data
    # missing) must leave no store behind. Here: could it be made, and written in?
    base = next(p for p in (db.parent, *db.parent.parents) if p.exists())
    if not base.is_dir():
        raise StoreError(f"cannot create the store folder {db.parent} ({base} is a file, not a folder); "
                         f"choose another --tracking-uri")
    # SQLite writes its lock, WAL and shared-memory files beside the database, even to read it.
    try:
        fd, probe = tempfile.mkstemp(prefix=".orderlab-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = "this file system takes no new files" if e.errno == errno.ENOENT else e.strerror
        raise StoreError(f"cannot write in the store folder {db.parent} ({why}); SQLite needs to "
                         f"write its journal there: fix the folder's permissions or copy the store elsewhere") from None
    if db.exists() and db.stat().st_size > 0 and str(db) not in _CHECKED:
        # Through SQLite itself, never a plain open(): closing any other descriptor of the file would
        # drop the POSIX locks this process's SQLite connections hold on it, and corrupt it.
        import sqlite3
        try:
            con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
            try:
                con.execute("PRAGMA schema_version").fetchone()
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            if "locked" in str(e) or "busy" in str(e):
                return      # another process is writing it: it is a database
            raise StoreError(f"{db} is not a usable SQLite database ({e}); move it aside and restore a "
                             f"backup, or choose another --tracking-uri") from None
        _CHECKED.add(str(db))


# ------------------------------------------------------------------ views

@dataclass
class RunInfo:
    run_id: str
    study: str
    arch: str
    seed: int
    status: str                    # RUNNING | FINISHED | FAILED | KILLED | STALE (see ENDED_EARLY)
    start_time: float              # unix seconds
    end_time: float | None
    checkpoints: int
    epoch: float                   # epochs completed
    epochs: float                  # epochs planned
    train_acc: float | None
    test_acc: float | None
    error: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifact_uri: str = ""

    @property
    def progress(self) -> float:
        return min(1.0, self.epoch / self.epochs) if self.epochs else 0.0

    @property
    def name(self) -> str:
        return f"{self.arch}/s{self.seed}"

    @property
    def stages(self) -> bool:
        """Whether the run's checkpoints count a learner's stages (boosting rounds, trees, passes,
        fractions of the data) rather than epochs: learners' runs store LEARNER_OPTIMIZER."""
        return self.params.get("optimizer") == LEARNER_OPTIMIZER

    @property
    def stack_info(self) -> dict[str, Any]:
        """What :meth:`orderlab.analysis.stack.Stack.from_records` takes with the run's record."""
        return {"run_id": self.run_id, "arch": self.arch, "seed": self.seed, "stages": self.stages}


def short_ids(ids: list[str], least: int = 8) -> dict[str, str]:
    """Each run id's first characters: ``least`` of them, or as many as tell the given ids apart
    (`orderlab runs` in a narrow terminal, and a refused ambiguous beginning, name runs so)."""
    n = least
    while len({i[:n] for i in ids}) < len(set(ids)):
        n += 1
    return {i: i[:n] for i in ids}


def shown_status(run: Any) -> str:
    """The status to show a user: SUPERSEDED for an interrupted run whose network was trained anew
    in another run (it is no failure to count, and resuming it is refused), else the run's own."""
    return "SUPERSEDED" if getattr(run, "tags", {}).get(TAG_SUPERSEDED) else run.status


@dataclass
class StudyInfo:
    name: str
    experiment_id: str
    parent_run_id: str | None
    dataset: str
    archs: list[str]
    n_runs: int
    n_running: int
    n_finished: int
    n_failed: int                  # FAILED or KILLED
    n_stale: int
    checkpoints: int               # most checkpoints recorded by any run
    last_update: float             # unix seconds
    fingerprint: str = ""          # the study's data ("train=…,test=…"): equal means the same data
    n_planned: int = 0             # planned by a train or sweep, no run yet (Store.unstarted_on)

    @property
    def n_networks(self) -> int:
        """The study's networks: those with a run, and those planned that have none yet."""
        return self.n_runs + self.n_planned


# what MLflow accepts in a tag key (an architecture named otherwise is shown once its runs exist)
_TAG_KEY = re.compile(r"[\w.\- /:]{1,250}")


def logging_failure(e: BaseException) -> str | None:
    """Why logging to the store failed, in a few words, for the errors a store gives (disk,
    permissions, a server, a read-only store); None for any other exception (the caller re-raises)."""
    from mlflow.exceptions import MlflowException
    if not isinstance(e, (OSError, MlflowException, StoreError)):
        return None
    return e.strerror if isinstance(e, OSError) and e.strerror else " ".join(str(e).split())[:160]


def planned_archs(experiment_tags: dict[str, str]) -> set[str]:
    """The architectures a study's trains and sweeps set out to train (``TAG_PLANNED_ARCH``)."""
    return {k[len(TAG_PLANNED_ARCH):] for k in experiment_tags if k.startswith(TAG_PLANNED_ARCH)}


def _is_alive(tags: dict[str, str]) -> bool | None:
    """True/False when the run's process is on this host; None when it cannot be told."""
    if tags.get(TAG_HOST) != socket.gethostname() or TAG_PID not in tags:
        return None
    try:
        os.kill(int(tags[TAG_PID]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return None
    # A process killed but not reaped (a parent that never waits, a container without an init) is a
    # zombie: it answers signals, but trains nothing, and its run stayed "running" for good.
    try:
        with open(f"/proc/{int(tags[TAG_PID])}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    return True


def _run_info(run: Any) -> RunInfo:
    tags = dict(run.data.tags)
    metrics = dict(run.data.metrics)
    status = run.info.status
    if status == "RUNNING":
        alive = _is_alive(tags)
        beat = float(tags.get(TAG_HEARTBEAT, run.info.start_time / 1000))
        if alive is False or (alive is None and time.time() - beat > STALE_AFTER_S):
            status = "STALE"
    try:
        seed = int(tags.get(TAG_SEED, "-1"))
    except ValueError:
        seed = -1
    return RunInfo(
        run_id=run.info.run_id,
        study=tags.get(TAG_STUDY, ""),
        arch=tags.get(TAG_ARCH, "?"),
        seed=seed,
        status=status,
        start_time=(run.info.start_time or 0) / 1000,
        end_time=run.info.end_time / 1000 if run.info.end_time else None,
        checkpoints=int(tags.get(TAG_CHECKPOINTS, "0")),
        epoch=float(tags.get(TAG_EPOCH, "0")),
        epochs=float(tags.get(TAG_EPOCHS, "0")),
        train_acc=metrics.get("train_acc"),
        test_acc=metrics.get("test_acc"),
        error=tags.get(TAG_ERROR),
        params=dict(run.data.params),
        tags=tags,
        artifact_uri=run.info.artifact_uri,
    )


def one_run_per_network(runs: Iterable[RunInfo]) -> list[RunInfo]:
    """Where a study holds several runs of one (architecture, seed) — a network trained anew after
    its run could not be resumed, or a store written by older versions — only one of them is that
    network: the FINISHED one, else one not superseded, else the one with most checkpoints, the
    newest on ties. Counting both would make copies of one network look like agreeing networks.
    Training (what to skip, resume or train) and analysis choose alike."""
    runs = list(runs)

    def rank(r: RunInfo) -> tuple:
        return r.status == "FINISHED", not r.tags.get(TAG_SUPERSEDED), r.checkpoints, r.start_time
    best: dict[tuple[str, int], RunInfo] = {}
    for r in runs:
        key = (r.arch, r.seed)
        if key not in best or rank(r) > rank(best[key]):
            best[key] = r
    keep = {id(r) for r in best.values()}
    return [r for r in runs if id(r) in keep]


# Params that say how a network was recorded or where (or beside which ensemble members) it ran,
# not which network it is: runs that differ only in these trained from the same initialisation
# and data order, with the same updates up to the device's arithmetic (and, in an ensemble, the
# dropout masks): far from independent networks. A learner's stages are its checkpoints (an SGD
# learner is fed its passes in the pieces between them), so for learners record_every counts.
RECORDING_ONLY = frozenset({"record_every", "record_splits", "device", "data_dir", "ensemble"})
TRAINING_PARAMS = frozenset({"dataset", "data_seed", "epochs"})     # every trained network logs them


def _param_value(v: str) -> Any:
    try:        # MLflow keeps strings: "2" and "2.0" epochs are the same setting
        return float(v)
    except ValueError:
        return v


def param_equals(logged: str | None, value: Any) -> bool:
    """A run's logged param (MLflow keeps strings) against a setting: numbers as numbers ("2" and
    "2.0" epochs are the same), the rest as their text. The one rule for "trained with the same
    settings" (train's reuse, reproduce's reuse, the command that retrains a network)."""
    if logged is None:
        return value is None
    if logged == str(value):             # None is logged as "None"
        return True
    if isinstance(value, bool):
        return False
    try:
        return float(logged) == float(value)
    except (TypeError, ValueError):
        return False


def _recording_only(arch: str) -> frozenset:
    """Params that do not change what ``arch`` learns (a learner's stages are its training)."""
    from orderlab.trainer.learners import LEARNERS
    return RECORDING_ONLY - {"record_every"} if arch in LEARNERS else RECORDING_ONLY


def network_identity(run: RunInfo) -> tuple:
    """What makes ``run`` the network it is: architecture, seed and every data and training param."""
    ignored = _recording_only(run.arch)
    params = tuple(sorted((k, _param_value(v)) for k, v in run.params.items() if k not in ignored))
    return run.arch, run.seed, params


def copies_across(groups: Iterable[Iterable[RunInfo]]) -> list[tuple[RunInfo, RunInfo]]:
    """``(copy, original)`` for every run of a later group that is the same network (see
    :func:`network_identity`) as a run of an earlier group: two studies that trained the same
    seeds alike (a `sweep` beside a `train` of one study's settings) hold copies of one network,
    which pooled together would look like networks that agree."""
    seen: dict[tuple, RunInfo] = {}
    copies = []
    for group in groups:
        mine: dict[tuple, RunInfo] = {}
        for r in group:
            if not TRAINING_PARAMS <= r.params.keys():     # not trained by orderlab: nothing to tell it by
                continue
            key = network_identity(r)
            if key in seen:
                copies.append((r, seen[key]))
            else:
                mine.setdefault(key, r)
        seen.update(mine)
    return copies


def siblings_across(groups: Iterable[Iterable[RunInfo]]) -> list[tuple[RunInfo, RunInfo, list[str]]]:
    """``(later, earlier, settings that differ)`` for every run of a later group with the
    architecture, seed and data of an earlier group's run but other training settings (say
    ``--epochs``): not a copy, yet drawn from the same seed, so from the same initialisation and
    data order: two such networks agree far more than independent ones early in training (Cohen's
    kappa 0.79-0.97 against 0.48 between seeds, digits, half an epoch in)."""
    def key(r: RunInfo) -> tuple:
        return r.arch, r.seed, tuple(_param_value(r.params.get(k, "")) for k in DATA_OPTIONS)
    seen: dict[tuple, RunInfo] = {}
    out = []
    for group in groups:
        mine: dict[tuple, RunInfo] = {}
        for r in group:
            if not TRAINING_PARAMS <= r.params.keys():
                continue
            k = key(r)
            first = seen.get(k)
            if first is not None and network_identity(first) != network_identity(r):
                differ = sorted(p for p in set(r.params) | set(first.params)
                                if p not in _recording_only(r.arch)
                                and _param_value(r.params.get(p, "")) != _param_value(first.params.get(p, "")))
                out.append((r, first, differ))
            elif first is None:
                mine.setdefault(k, r)
        seen.update(mine)
    return out


# ------------------------------------------------------------------ the store

DATA_OPTIONS = ("dataset", "data_seed", "train_subset", "test_subset")   # what makes a study's data


def data_options_differ(have: dict[str, Any], want: dict[str, Any], names: tuple[str, str] = ("", ""),
                        keys: tuple[str, ...] = DATA_OPTIONS) -> str:
    """The data options (of ``keys``) on which two studies' settings differ, said as options
    (``--train-subset 500, not all``), or "" when none of them does (the data itself changed)."""
    def shown(key: str, v: Any) -> str:
        v = "None" if v is None else str(v)
        return ("all" if key.endswith("_subset") else "none") if v == "None" else v
    out = []
    for key in keys:
        if key in have and key in want and str(have[key]) != str(want[key]):
            a, b = shown(key, have[key]), shown(key, want[key])
            out.append(f"--{key.replace('_', '-')} {a}{names[0]}, not {b}{names[1]}")
    return "; ".join(out)


def uri_form_problem(uri: str) -> str | None:
    """What makes ``uri`` unusable whatever the state of the machine (its form alone), or None."""
    try:
        scheme = urllib.parse.urlparse(uri).scheme
    except ValueError as e:                    # e.g. http://[::1 (an unclosed IPv6 address)
        return (f"tracking URI {_without_password(uri)!r} cannot be parsed ({e}); use sqlite:///PATH/mlflow.db "
                f"or http://HOST:PORT")
    if scheme in ("http", "https"):
        try:
            urllib.parse.urlparse(uri).port
        except ValueError:                      # not a number, or out of range: no server is reached
            return (f"tracking URI {_without_password(uri)!r} has a port that is not a number from 1 to 65535; "
                    f"fix --tracking-uri (http://HOST:PORT)")
        return None
    if uri in ("sqlite://", "sqlite:///:memory:") or uri.startswith("sqlite:///:memory:"):
        return (f"tracking URI {uri!r} is an in-memory SQLite store, which keeps nothing after the command "
                f"ends; use sqlite:///PATH/mlflow.db")
    if uri.startswith("sqlite:///"):
        return None
    if scheme in ("file", ""):
        # A path (a bare one, or file:) is MLflow's plain file store. What the user most likely
        # meant, spelled out: the SQLite database at that path, or in that folder (orderlab's mlruns/).
        if scheme == "file":
            parts = urllib.parse.urlparse(uri)
            # file://mlruns/mlflow.db puts "mlruns" in the host: a relative path was meant
            host = "" if parts.netloc in ("", "localhost") else parts.netloc
            path = urllib.parse.unquote(host + parts.path)
        else:
            path = uri
        path = os.path.abspath(os.path.expanduser(path))
        db = path if path.endswith((".db", ".sqlite", ".sqlite3")) else os.path.join(path, "mlflow.db")
        # percent-quoted for SQLAlchemy's URL ('?' starts options), which leaves nothing for a shell to split
        fixed = "sqlite:///" + urllib.parse.quote(db, safe="/")
        where = ("MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") == uri else "--tracking-uri")
        return (f"tracking URI {uri!r} is a path, which MLflow 3 takes for a plain file store and refuses; "
                f"for the SQLite store there use {where} {fixed} (or an http:// server)")
    if scheme not in _DB_SCHEMES:
        return (f"tracking URI {uri!r} has a scheme ({scheme}:) that MLflow cannot track to; use "
                f"sqlite:///PATH/mlflow.db or an http(s):// server")
    return None


# The pip package of each database driver SQLAlchemy may ask for (by the module it imports).
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pg8000": "pg8000",
                    "MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "mysql": "mysql-connector-python",
                    "pyodbc": "pyodbc", "pymssql": "pymssql"}


_DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _check_db_driver(uri: str) -> None:
    """A database store needs its Python driver, which orderlab does not install: without it
    MLflow fails deep inside SQLAlchemy. Ask SQLAlchemy which driver the URI names."""
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    shown = _without_password(uri)
    try:
        dialect = make_url(uri).get_dialect()
        dialect.import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise StoreError(f"tracking URI {shown!r} is not a database URL SQLAlchemy knows ({e}); use e.g. "
                         f"postgresql://USER:PASSWORD@HOST/DB, or sqlite:///PATH/mlflow.db") from None
    except ModuleNotFoundError as e:
        module = (e.name or "").split(".")[0]
        package = _DRIVER_PACKAGES.get(module, module)
        raise StoreError(f"tracking URI {shown!r} needs the database driver {module!r}, which is not installed; "
                         f"`pip install '{package}'` into orderlab's environment, or use sqlite:///PATH/mlflow.db") \
            from None
    except ImportError as e:        # installed, but unusable (psycopg without its libpq, say)
        raise StoreError(f"the database driver of tracking URI {shown!r} cannot load ({' '.join(str(e).split())}); "
                         f"reinstall it (e.g. `pip install 'psycopg[binary]'`), or use sqlite:///PATH/mlflow.db") \
            from None
    # MLflow retries a refused connection for minutes, then fails with a traceback: probe first.
    endpoint = db_tcp_endpoint(uri)
    if endpoint is not None:
        try:
            socket.create_connection(endpoint, timeout=5).close()
        except OSError as e:
            raise StoreError(f"database server {endpoint[0]}:{endpoint[1]} of tracking URI {shown!r} is unreachable "
                             f"({e.strerror or e}); start it or fix --tracking-uri") from None
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    engine = create_engine(uri)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as e:
        reason = " ".join(str(getattr(e, "orig", None) or e).split())
        raise StoreError(f"cannot open the database of tracking URI {shown!r} ({reason}); check the user, "
                         f"password and database name in --tracking-uri") from None
    finally:
        engine.dispose()


def db_tcp_endpoint(uri: str) -> tuple[str, int] | None:
    """The (host, port) a database URI's server listens on over TCP, or None where the URI names no
    such server: a Unix socket (MySQL's clients take "localhost" for theirs) or an ODBC data source."""
    from sqlalchemy.engine.url import make_url
    url = make_url(uri)
    if (not url.host or {"unix_socket", "host", "odbc_connect"} & set(url.query)
            or (url.get_driver_name() == "pyodbc" and not url.port)
            or (url.get_backend_name() == "mysql" and url.host == "localhost")):
        return None
    return url.host, url.port or _DB_PORTS.get(url.get_backend_name(), 0)


def _health_request(uri: str):
    """The request for a tracking server's /health: its user and password, where the URI holds
    them, as basic auth (urllib does not take them from the URL: such a server was "unreachable")."""
    import base64
    parts = urllib.parse.urlsplit(uri)
    url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])).rstrip("/") + "/health"
    if parts.username is None:
        return urllib.request.Request(url)
    user, secret = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})


def _without_password(uri: str) -> str:
    """``uri`` fit for a message: a password in it (or in an ODBC string's PWD=) is replaced by ***."""
    import re
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:                   # unparsable (an unclosed [): hide whatever is between : and @
        return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", uri, count=1)
    if parts.password is not None:
        uri = uri.replace(f":{parts.password}@", ":***@", 1)
    head, q, query = uri.partition("?")
    # up to the next ; or & (or an encoded ;, %3B)
    return head + q + re.sub(r"(?i)((?:pwd|password)(?:=|%3D))(?:(?!%3B)[^;&])*", r"\1***", query)


class Store:
    """orderlab's view of one MLflow tracking store (embedded SQLite by default, or a server)."""

    def __init__(self, tracking_uri: str | None = None, *, check: bool = True, must_exist: bool = False,
                 named: bool | None = None, ended_progress: dict | None = None):
        """``must_exist``: a command that only reads (listing, analysis) refuses a SQLite store that
        does not exist yet instead of creating an empty one. ``named``: whether the user named the
        store (default: whether ``tracking_uri`` is given); the commands orderlab suggests then name
        it too (``studydata.uri_option``)."""
        self.uri = resolve_tracking_uri(tracking_uri)
        self.named = tracking_uri is not None if named is None else named
        self.must_exist = must_exist
        self._client = None
        self._local_artifact_root: Path | None = None
        # plan files downloaded from a server, by (parent run, path): named by their content's hash,
        # a plan never changes, so a TUI polling a study downloads each once, not every poll
        self._plan_texts: dict[tuple[str, str], str] = {}
        self._plan_lists: dict[str, tuple[float, list]] = {}   # parent run -> (when, its plans listed there)
        # (run, status, checkpoints tagged, last heartbeat) -> (when, what the record of a run ended
        # early holds); ``ended_progress``: one kept across reconnections (the TUI's), so that an
        # outage does not download every ended run's record again
        self._ended_progress: dict[tuple, tuple[float, Any]] = {} if ended_progress is None else ended_progress
        self._parents: dict[str, str] = {}          # experiment id -> its study's parent run (parent_run_id)
        self._artifact_uris: dict[str, str] = {}    # run id -> artifact URI, of runs seen (it never changes)
        if self.uri.startswith("sqlite:///"):
            db = sqlite_path(self.uri)
            self._local_artifact_root = db.parent
        if check:
            self.check()

    # -- connection -------------------------------------------------------
    def check(self) -> None:
        """Fail fast, with a one-line message, when the store cannot be reached."""
        if problem := uri_form_problem(self.uri):
            raise StoreError(problem)
        scheme = urllib.parse.urlparse(self.uri).scheme
        if scheme in ("http", "https"):
            shown = _without_password(self.uri)         # (a URI's password in no message)
            try:
                with urllib.request.urlopen(_health_request(self.uri), timeout=5) as r:
                    r.read()
            except urllib.error.HTTPError as e:      # something answered: not MLflow, or not let in
                if e.code in (401, 403):
                    raise StoreError(f"tracking server {shown} refused access (HTTP {e.code} {e.reason}); set "
                                     f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
                                     f"MLFLOW_TRACKING_TOKEN)") from None
                if e.code >= 500:                   # a proxy whose server is down, or one starting
                    raise StoreError(f"tracking server {shown} is not answering (HTTP {e.code} {e.reason} for "
                                     f"/health); {start_server_advice(self.uri, answered=True)}, wait until it is "
                                     f"up, or fix --tracking-uri") from None
                raise StoreError(f"{shown} answered but is no MLflow tracking server (HTTP {e.code} {e.reason} "
                                 f"for /health); fix --tracking-uri to the address and port of `mlflow server`") \
                    from None
            except Exception as e:  # noqa: BLE001 - any failure means unreachable
                reason = getattr(e, "reason", e)
                raise StoreError(f"tracking server {shown} is unreachable ({reason}); "
                                 f"{start_server_advice(self.uri)} or fix --tracking-uri") from None
        elif self.uri.startswith("sqlite:///"):
            _check_sqlite(sqlite_path(self.uri), self.must_exist)
        elif scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
            _check_db_driver(self.uri)

    @property
    def client(self):
        if self._client is None:
            _quiet_mlflow_env()
            import logging
            from mlflow.tracking import MlflowClient
            # After the import: mlflow configures its own loggers (INFO) when it loads.
            for name in ("alembic", "mlflow"):
                logging.getLogger(name).setLevel(logging.WARNING)
            # It logs each database error it raises, as an ERROR with the SQL; orderlab says what
            # went wrong in one line (``_retry``), so the log only buried that line.
            logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
            sqlite = self.uri.startswith("sqlite:///")
            if sqlite:
                _sqlite_wal()
                _make_store_folder(sqlite_path(self.uri))
            with _store_lock(self.uri) if sqlite else nullcontext():
                db = sqlite_path(self.uri) if sqlite else None
                # what was there before: only files this command makes are ever removed below
                before = _sqlite_files_present(db) if db is not None else set()
                try:
                    client = self._retry(lambda: MlflowClient(tracking_uri=self.uri))
                    # A new store's schema is created by the first query; do it under the lock too.
                    self._retry(lambda: client.search_experiments(max_results=1))
                except Exception as e:
                    if db is not None and db not in before:
                        # A store this command began (its schema cut off by a full disk, say) is
                        # removed: it held nothing, and left half-made every later command would
                        # fail on it ("table _alembic_tmp_jobs already exists").
                        _remove_new_sqlite(db, before)
                    if isinstance(e, OrderlabError):
                        raise
                    first = (str(e).strip().splitlines() or [""])[0][:200]
                    raise StoreError(f"MLflow cannot open the store {_without_password(self.uri)} "
                                     f"({type(e).__name__}: {first}); "
                                     + ("if a command was cut off while making it (a full disk, a kill), move it "
                                        "aside (with its -wal and -shm files) and run the command again to make a "
                                        "new one, or restore a backup"
                                        if sqlite else "check the database and --tracking-uri")) from None
            self._client = client
        return self._client

    def _read_only(self) -> ReadOnlyStore:
        return ReadOnlyStore(f"the store {self.uri} is read-only (its database file cannot be written); make the "
                             f"file writable or pass --tracking-uri to a writable store")

    def _retry(self, fn: Callable[[], T], attempts: int = 60) -> T:
        """Run ``fn``; retry while SQLite is locked by another writer (parallel sweeps)."""
        delay = 0.05
        for i in range(attempts):
            try:
                return fn()
            except Exception as e:  # noqa: BLE001
                text = str(e).lower()
                transient = "database is locked" in text or "database table is locked" in text \
                    or "unable to open database" in text and i < 3
                if not transient or i == attempts - 1:
                    if "readonly database" in text:      # SQLite: "attempt to write a readonly database"
                        raise self._read_only() from None
                    if "database or disk is full" in text or "no space left on device" in text:
                        db = (sqlite_path(self.uri).parent if self.uri.startswith("sqlite:///")
                              else _without_password(self.uri))
                        raise StoreError(f"the store's disk is full (writing to {db}); free space there and run the "
                                         f"same command again: what was recorded is kept, and an interrupted "
                                         f"network resumes") from None
                    if "database disk image is malformed" in text or "file is not a database" in text:
                        # pages damaged past the header, which the opening check reads
                        db = sqlite_path(self.uri) if self.uri.startswith("sqlite:///") else _without_password(self.uri)
                        why = "file is not a database" if "file is not a database" in text else \
                            "database disk image is malformed"
                        raise StoreError(f"the store's database {db} is damaged (SQLite: {why}); move it aside (with "
                                         f"its -wal and -shm files) and restore a backup, or recover what "
                                         f"SQLite can read with the sqlite3 tool (`sqlite3 {db} .recover | sqlite3 recovered.db`) "
                                         f"and point --tracking-uri at the recovered file") from None
                    if "connection refused" in text or "max retries exceeded" in text:
                        raise StoreError(f"tracking server {_without_password(self.uri)} stopped answering; "
                                         f"restart it and retry") from None
                    raise
                time.sleep(delay)
                delay = min(1.0, delay * 1.5)
        raise AssertionError("unreachable")

    # -- studies ------------------------------------------------------------
    def _experiment(self, study: str):
        exp = self._retry(lambda: self.client.get_experiment_by_name(study))
        if exp is None or exp.lifecycle_stage != "active" or exp.tags.get(TAG_KIND) != "study":
            return None
        return exp

    def experiment_id(self, study: str) -> str:
        exp = self._experiment(study)
        if exp is None:
            run = self._run_named(study)
            if run is not None:
                from orderlab.studydata import suggest
                owner, kind = run.data.tags.get(TAG_STUDY), run.data.tags.get(TAG_KIND)
                # (a finished network has nothing to continue: `train --resume` refuses it)
                one = (f"; `{suggest(self, 'orderlab', 'train', '--resume', study)}` continues that network alone"
                       if kind == "network" and run.info.status != "FINISHED" else "")
                what = "the id" if len(study) == 32 else "the beginning of the id"
                raise NoSuchStudy(f"{study} is {what} of a run of study {owner!r}, not a study's name: give the "
                                  f"study's name, {owner}{one}")
            names = ", ".join(s for s in self.study_names()) or "none yet"
            raise NoSuchStudy(f"no study named {study!r} in {_without_password(self.uri)} (studies: {names}); "
                             f"check the name or --tracking-uri")
        return exp.experiment_id

    def _run_named(self, name: str):
        """The orderlab run whose id is ``name`` or begins with it, where one was given for a study's
        name (a run id from `orderlab runs`, for `sweep --resume`); None otherwise."""
        if not re.fullmatch(r"[0-9a-f]{6,32}", name):      # shorter: more likely a study's name mistyped
            return None
        try:
            run = self._retry(lambda: self.client.get_run(name)) if len(name) == 32 else self._run_by_prefix(name)
        except Exception:  # noqa: BLE001 - no such run (or no answer): the study's own message stands
            return None
        return run if run.data.tags.get(TAG_STUDY) else None

    def _study_experiments(self) -> list:
        """The experiments that are orderlab studies (active ones: MLflow's default view)."""
        return self._retry(lambda: self.client.search_experiments(
            filter_string=f"tags.`{TAG_KIND}` = 'study'", max_results=10000))

    def has_study(self, study: str) -> bool:
        """Whether ``study`` exists, without making a SQLite store that does not exist yet (a
        command refused before it records anything leaves none behind)."""
        if self.uri.startswith("sqlite:///") and not sqlite_path(self.uri).exists():
            return False
        return study in self.study_names()

    def study_names(self) -> list[str]:
        exps = self._study_experiments()
        return sorted(e.name for e in exps)

    def get_or_create_study(self, study: str, dataset: str, fingerprint: str,
                            params: dict[str, Any] | None = None) -> tuple[str, str]:
        """Return ``(experiment_id, parent_run_id)``, creating both when missing.

        A study holds one dataset split: adding networks on other data is refused.
        """
        from mlflow.exceptions import MlflowException

        exp = self._retry(lambda: self.client.get_experiment_by_name(study))
        if exp is not None and exp.tags.get(TAG_KIND) != "study":
            raise StoreError(f"MLflow experiment {study!r} exists but is not an orderlab study; "
                             f"choose another --study name")
        if exp is not None and exp.lifecycle_stage != "active":
            raise StoreError(f"study {study!r} was deleted in MLflow; restore it or choose another --study")
        created = False
        if exp is None:
            tags = {TAG_KIND: "study", TAG_DATASET: dataset, TAG_FINGERPRINT: fingerprint}
            location = None
            if self._local_artifact_root is not None:
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study)
                location = (self._local_artifact_root / "artifacts" / safe).as_uri()
            try:
                exp_id = self._retry(lambda: self.client.create_experiment(
                    study, artifact_location=location, tags=tags))
                created = True
            except MlflowException as e:
                if "already exists" not in str(e).lower() and "unique" not in str(e).lower():
                    raise
                exp_id = self._retry(lambda: self.client.get_experiment_by_name(study)).experiment_id
            exp = self._retry(lambda: self.client.get_experiment(exp_id))
        have_ds, have_fp = exp.tags.get(TAG_DATASET), exp.tags.get(TAG_FINGERPRINT)
        if have_ds != dataset or have_fp != fingerprint:
            differ = data_options_differ(self.data_options(study), params or {"dataset": dataset})
            if differ:
                raise StoreError(f"study {study!r} was made with {differ}; use the study's data options or another "
                                 f"--study")
            # the same options, other data: the file (npz:, text-csv:) or the dataset's files changed
            # since the study was made; its options were no way out
            raise StoreError(f"study {study!r} holds networks on {have_ds} as it was then (data fingerprint {have_fp}); "
                             f"with the same options the data now reads {fingerprint}: its files changed since. Put "
                             f"the study's data back, or train the new data into another --study")
        parent = self.parent_run_id(exp.experiment_id)
        if parent is None:
            parent = self._create_parent(exp.experiment_id, study, dataset, params, created)
        return exp.experiment_id, parent

    def _create_parent(self, exp_id: str, study: str, dataset: str, params: dict[str, Any] | None,
                       created_experiment: bool) -> str:
        """The study's parent run, made once however many processes start the study together. On a
        SQLite store they take turns under its file lock. A tracking server offers no lock: the
        process that created the experiment (MLflow's names are unique) makes the run while the
        others wait for it, and should two still both make one (the creator died in between, or the
        study came from elsewhere), the oldest is kept."""
        if self.uri.startswith("sqlite:///"):
            self.client     # opened first: opening takes the same lock
            with _store_lock(self.uri, f"creating study {study!r}"):
                return self.parent_run_id(exp_id) or self._new_parent(exp_id, study, dataset, params)
        if not created_experiment:
            deadline = time.monotonic() + PARENT_WAIT_S
            while time.monotonic() < deadline:
                time.sleep(0.1)
                parent = self.parent_run_id(exp_id)
                if parent is not None:
                    return parent
        parent = self._new_parent(exp_id, study, dataset, params)
        first = self.parent_run_id(exp_id)
        if first != parent:
            self._retry(lambda: self.client.delete_run(parent))
        return first

    def _new_parent(self, exp_id: str, study: str, dataset: str, params: dict[str, Any] | None) -> str:
        run = self._retry(lambda: self.client.create_run(
            exp_id, run_name=study, tags={TAG_KIND: "study", TAG_STUDY: study, TAG_DATASET: dataset}))
        parent = run.info.run_id
        if params:
            self.log_params(parent, params)
        self._retry(lambda: self.client.set_terminated(parent, "FINISHED"))
        return parent

    def parent_run_id(self, experiment_id: str) -> str | None:
        # A study's parent run, once there, stays its parent (the oldest study run: one made later in
        # a race is deleted), and a run's artifact location never changes: both kept, so that the
        # TUI's polls and the studies list do not ask for them again (nor get_run for the location).
        if experiment_id in self._parents:
            return self._parents[experiment_id]
        runs = self._retry(lambda: self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'study'",
            order_by=["attributes.start_time ASC"], max_results=1))
        if not runs:
            return None
        self._parents[experiment_id] = runs[0].info.run_id
        self._artifact_uris[runs[0].info.run_id] = runs[0].info.artifact_uri
        return runs[0].info.run_id

    def data_options(self, study: str) -> dict[str, str]:
        """The data options a study was made with (its parent run's params: ``dataset``,
        ``data_seed``, ``train_subset``, ``test_subset``), as MLflow keeps them (strings)."""
        exp = self._experiment(study)
        parent = None if exp is None else self.parent_run_id(exp.experiment_id)
        if parent is None:
            return {}
        params = self._retry(lambda: self.client.get_run(parent)).data.params
        return {k: params[k] for k in DATA_OPTIONS if k in params}

    def study_parent(self, study: str) -> str:
        parent = self.parent_run_id(self.experiment_id(study))
        if parent is None:
            # an orderlab study (experiment_id takes no other) whose command stopped between making
            # it and its parent run ("created by another tool", this said)
            raise StoreError(f"study {study!r} holds nothing yet: the command that made it was interrupted "
                             f"before it planned any network; run that command again")
        return parent

    def list_studies(self) -> list[StudyInfo]:
        exps = self._study_experiments()
        out = []
        for exp in exps:
            # one run per network: a run whose network was trained anew is no second network, nor a failure
            runs = one_run_per_network(self.list_runs_in(exp.experiment_id))
            parent = self.parent_run_id(exp.experiment_id)
            statuses = [shown_status(r) for r in runs]
            out.append(StudyInfo(
                name=exp.name, experiment_id=exp.experiment_id, parent_run_id=parent,
                dataset=exp.tags.get(TAG_DATASET, "?"),
                archs=sorted({r.arch for r in runs} | planned_archs(exp.tags)),
                n_runs=len(runs), n_running=statuses.count("RUNNING"),
                n_finished=statuses.count("FINISHED"),
                n_failed=statuses.count("FAILED") + statuses.count("KILLED"),
                n_stale=statuses.count("STALE"),
                # what the records hold, for runs that stopped early (their tags may lag behind)
                checkpoints=max((self.recorded_progress(r, download=False)[0] for r in runs), default=0),
                last_update=max([exp.last_update_time / 1000 if exp.last_update_time else 0.0]
                                + [float(r.tags.get(TAG_HEARTBEAT, r.start_time)) for r in runs]
                                + [r.end_time or 0.0 for r in runs]),
                fingerprint=exp.tags.get(TAG_FINGERPRINT, ""),
                n_planned=len(self.unstarted_on(parent, runs)) if parent else 0,
            ))
        return sorted(out, key=lambda s: s.name)

    def unstarted_on(self, parent: str, runs: Iterable[RunInfo]) -> set[tuple[str, int]]:
        """The (architecture, seed) of the networks the plans on a study's ``parent`` run name that
        have no run among ``runs``; none where the plans cannot be read (they only ever feed a count
        or a note)."""
        try:
            # on a server, a listing up to 30 s old: the TUI polls each study (and the studies list
            # every study) every few seconds, and a plan is new only when a train or sweep starts
            plans, _ = self._plans_on(parent, max_age=PLAN_LIST_AGE_S)
        except Exception:  # noqa: BLE001 - a count only: a server's hiccup, a plan folder that went
            return set()
        return ({(str(a), int(sd)) for _, p in plans for a in p.get("archs", []) for sd in p.get("seeds", [])}
                - {(r.arch, int(r.seed)) for r in runs})

    def plan_archs(self, study: str, archs: Iterable[str]) -> None:
        """Note on ``study`` that networks of ``archs`` are to be trained (see ``TAG_PLANNED_ARCH``)."""
        from mlflow.exceptions import MlflowException
        exp = self._retry(lambda: self.client.get_experiment_by_name(study))
        if exp is None:
            return
        for a in archs:
            key = TAG_PLANNED_ARCH + a
            if key not in exp.tags and _TAG_KEY.fullmatch(key):
                try:
                    self._retry(lambda: self.client.set_experiment_tag(exp.experiment_id, key, "1"))
                except MlflowException:
                    pass        # a key this MLflow refuses: the architecture is listed once its runs exist

    def list_runs(self, study: str) -> list[RunInfo]:
        return self.list_runs_in(self.experiment_id(study))

    def list_runs_in(self, experiment_id: str) -> list[RunInfo]:
        runs: list[RunInfo] = []
        token = None
        while True:
            page = self._retry(lambda: self.client.search_runs(
                [experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'network'",
                max_results=1000, page_token=token))
            runs.extend(_run_info(r) for r in page)
            token = page.token
            if not token:
                break
        return sorted(runs, key=lambda r: (r.arch, r.seed, r.start_time))

    def get_run(self, run_id: str) -> RunInfo:
        from mlflow.exceptions import MlflowException
        try:
            run = self._retry(lambda: self.client.get_run(run_id))
        except MlflowException:
            run = self._run_by_prefix(run_id)
        run_id = run.info.run_id
        kind = run.data.tags.get(TAG_KIND)
        if kind != "network":
            study = run.data.tags.get(TAG_STUDY)
            what = {"study": f"the parent run of study {study!r}", "report": f"a report of study {study!r}"}.get(
                kind, "not a run orderlab made")
            from orderlab.studydata import suggest
            named = study if kind in ("study", "report") and study else "STUDY"
            listing = f"`{suggest(self, 'orderlab', 'runs', named)}`"
            raise StoreError(f"run {run_id} is {what}, not a network's run; {listing} lists the network runs "
                             f"and their ids")
        return _run_info(run)

    def _run_by_prefix(self, prefix: str):
        """The one network run (of a study not deleted) whose id begins with ``prefix``: messages
        name runs by their first 8 characters, and `orderlab runs` shortens ids so in a narrow terminal."""
        from orderlab.studydata import suggest
        missing = StoreError(f"no run {prefix!r} in {_without_password(self.uri)}; list runs with "
                             f"`{suggest(self, 'orderlab', 'runs', 'STUDY')}`")
        if not re.fullmatch(r"[0-9a-f]{1,31}", prefix):
            raise missing
        exps = [e.experiment_id for e in self._study_experiments()]
        # network runs only: a study's parent or report run sharing the beginning makes it no less one
        found = self._retry(lambda: self.client.search_runs(
            exps, filter_string=f"attributes.run_id LIKE '{prefix}%' and tags.`{TAG_KIND}` = 'network'",
            max_results=1000)) if exps else []
        if not found:
            raise missing
        if len(found) > 1:
            # named as `orderlab runs` shortens them, by as many characters as tell these apart
            short = short_ids([r.info.run_id for r in found], least=max(8, len(prefix) + 1))
            ids = ", ".join(short[r.info.run_id] for r in found[:4]) + (", …" if len(found) > 4 else "")
            count = f"{len(found)}{' or more' if len(found) == 1000 else ''}"
            raise StoreError(f"run id {prefix!r} begins the ids of {count} network runs ({ids}); give more of it")
        return found[0]

    # -- network runs: writing ---------------------------------------------
    def create_network_run(self, study: str, parent_run_id: str, experiment_id: str, *, arch: str,
                           seed: int, dataset: str, epochs: float, params: dict[str, Any],
                           pid: int | None = None) -> tuple[str, str]:
        """A new RUNNING network run: (run id, artifact URI). ``pid``: the training process, when
        another process makes the call for it (a sweep's worker through its RelayedStore)."""
        tags = {TAG_KIND: "network", TAG_STUDY: study, TAG_ARCH: arch, TAG_SEED: str(seed),
                TAG_DATASET: dataset, TAG_PARENT: parent_run_id, TAG_CHECKPOINTS: "0", TAG_EPOCH: "0",
                TAG_EPOCHS: str(epochs), TAG_HEARTBEAT: f"{time.time():.3f}",
                TAG_HOST: socket.gethostname(), TAG_PID: str(pid or os.getpid())}
        run = self._retry(lambda: self.client.create_run(experiment_id, run_name=f"{arch}-s{seed}", tags=tags))
        self.log_params(run.info.run_id, params)
        return run.info.run_id, run.info.artifact_uri

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            chunk = items[i:i + 100]
            self._retry(lambda: self.client.log_batch(run_id, params=chunk))

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int,
                    tags: dict[str, str] | None = None) -> None:
        """One batched call for a set of metrics at one step (plus optional tags)."""
        self.log_metric_points(run_id, [(step, metrics)], tags)

    def log_metric_points(self, run_id: str, points: list[tuple],
                          tags: dict[str, str] | None = None) -> None:
        """Metrics at several steps (``[(step, {name: value})]``, or ``(step, {name: value}, unix ms)``
        with the time they were measured: buffered points keep their own time on MLflow's time axis)
        and tags, in as few calls as MLflow's batch limits allow (one for a run's usual buffered
        checkpoints)."""
        from mlflow.entities import Metric, RunTag
        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), int(p[2]) if len(p) > 2 else now, int(p[0])) for p in points
              for k, v in p[1].items() if v is not None]
        ts = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        for i in range(0, max(len(ms), 1), 1000):
            chunk = ms[i:i + 1000]
            self._retry(lambda: self.client.log_batch(run_id, metrics=chunk, tags=ts if i == 0 else []))

    def metric_steps(self, run_id: str, key: str) -> set[int]:
        """The steps at which the run has a value of ``key``."""
        return {m.step for m in self._retry(lambda: self.client.get_metric_history(run_id, key))}

    def log_metric_series(self, run_id: str, series: dict[str, Iterable[float]], steps: Iterable[int]) -> None:
        from mlflow.entities import Metric
        steps = list(steps)
        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, int(s)) for k, vals in series.items() for v, s in zip(vals, steps)]
        for i in range(0, len(ms), 1000):
            chunk = ms[i:i + 1000]
            self._retry(lambda: self.client.log_batch(run_id, metrics=chunk))

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag
        self._retry(lambda: self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def reclaim(self, run_id: str, pid: int | None = None) -> None:
        """Mark a run as RUNNING in this process (or process ``pid``) again (resume), and forget why it
        stopped: a resumed run that finishes must not show the old interruption as its error."""
        from mlflow.exceptions import MlflowException
        self._retry(lambda: self.client.update_run(run_id, status="RUNNING"))
        self.set_tags(run_id, {TAG_HOST: socket.gethostname(), TAG_PID: pid or os.getpid(),
                               TAG_HEARTBEAT: f"{time.time():.3f}"})
        try:
            self._retry(lambda: self.client.delete_tag(run_id, TAG_ERROR))
        except MlflowException:
            pass        # it had none

    def supersede(self, run_id: str, new_run_id: str, why: str) -> None:
        """Mark an interrupted run as replaced by ``new_run_id`` (its network is trained anew there
        because it cannot be resumed); the run and its record stay as they were."""
        run = self._retry(lambda: self.client.get_run(run_id))
        before = run.data.tags.get(TAG_ERROR)
        self.set_tags(run_id, {TAG_SUPERSEDED: new_run_id,
                               TAG_ERROR: (f"superseded by run {new_run_id}: {why}"
                                           + (f" (it had stopped: {before})" if before else ""))[:5000]})
        if run.info.status == "RUNNING":    # left by a dead process
            self._retry(lambda: self.client.set_terminated(run_id, "KILLED"))

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        if error:
            self.set_tags(run_id, {TAG_ERROR: error[:5000]})
        self._retry(lambda: self.client.set_terminated(run_id, status))

    # -- artifacts -----------------------------------------------------------
    def _artifact_dir(self, run_id: str, artifact_uri: str | None = None) -> Path | None:
        artifact_uri = artifact_uri or self._artifact_uris.get(run_id)
        if artifact_uri is None:
            artifact_uri = self._retry(lambda: self.client.get_run(run_id)).info.artifact_uri
        return self._local_dir(artifact_uri)

    def made_elsewhere(self) -> Path | None:
        """The folder this local store's studies were made in, when that is not where it is now (a
        moved or copied ``mlruns/``): orderlab reads and writes in the store's own folder, but the
        MLflow UI follows the recorded paths. None when they agree, or for other stores."""
        root = self._local_artifact_root
        if root is None:
            return None
        exps = self._study_experiments()
        for e in exps:
            path = _local_path(e.artifact_location or "")
            if path is not None and len(path.parts) >= 3 and path.parent.name == "artifacts" \
                    and path.parent.parent != root:
                return path.parent.parent
        return None

    def _local_dir(self, artifact_uri: str) -> Path | None:
        """The local folder of a run's files, in this store's own folder when it was moved or copied.

        MLflow keeps each run's artifact location as an absolute path, fixed when the run was made;
        a local store's runs live at ``ROOT/artifacts/STUDY/RUN_ID/artifacts`` (orderlab makes each
        study's location so). Read through a copy (``cp -r mlruns elsewhere``, a store rsynced off a
        GPU machine), the recorded paths name the original: its files, or none where it is gone.
        """
        path = _local_path(artifact_uri)
        root = self._local_artifact_root
        if path is None or root is None:
            return path
        parts = path.parts
        if len(parts) >= 5 and parts[-1] == "artifacts" and parts[-4] == "artifacts":
            return root / "artifacts" / parts[-3] / parts[-2] / "artifacts"
        return path

    def write_record(self, run_id: str, record: Record, artifact_uri: str | None = None) -> None:
        """Publish the run's record; atomic for local artifact stores."""
        local = self._artifact_dir(run_id, artifact_uri)
        if local is not None:
            save_record(record, local / RECORD_ARTIFACT_DIR / RECORD_FILENAME)
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = save_record(record, Path(tmp) / RECORD_FILENAME)
            self._retry(lambda: self.client.log_artifact(run_id, str(path), RECORD_ARTIFACT_DIR))

    def remove_partial_files(self, run_id: str, artifact_uri: str | None = None) -> list[Path]:
        """Delete what a process killed while writing left in the run's local artifact folders: a
        record's temporary file (random names, so they pile up) and the training state's. Called
        when the run is resumed: one process trains a run at a time, so none is being written.
        Returns what was removed."""
        local = self._artifact_dir(run_id, artifact_uri)
        if local is None:
            return []
        gone = []
        for pattern in (f"{RECORD_ARTIFACT_DIR}/.record-*.npz.tmp", f"{STATE_ARTIFACT_DIR}/{STATE_FILENAME}.tmp"):
            for p in local.glob(pattern):
                try:
                    p.unlink()
                    gone.append(p)
                except FileNotFoundError:
                    pass
        return gone

    def recorded_progress(self, run: RunInfo, download: bool = True) -> tuple[int, float, float | None, float | None]:
        """(checkpoints, last epoch, train accuracy, test accuracy) to show for ``run``: its progress
        tags and metrics, or, for a run that ended early, what its record holds where that is more.
        Tags and metrics are written every 2 s, so they lag behind a process that was killed (which
        may have logged no accuracy at all), or behind a server that stopped answering. The record is
        read once per run and state (a run ended early no longer changes it; the TUI polls); one that
        cannot be read, again after 30 s. ``download``: a server's records too (the studies list,
        over every study's runs, reads the tags there)."""
        from orderlab.record import recorded_last
        shown = (run.checkpoints, run.epoch, run.train_acc, run.test_acc)
        if run.status not in ENDED_EARLY:
            return shown
        local = self._artifact_dir(run.run_id, run.artifact_uri)
        if local is None and not download:
            return shown
        # the heartbeat too: a run resumed in place and killed again before its first tag flush has
        # its old status and count, and a new record (a resume rewrites the heartbeat at once)
        key = (run.run_id, run.status, run.checkpoints, run.tags.get(TAG_HEARTBEAT))
        cached = self._ended_progress.get(key)
        if cached is None or (cached[1] is None and time.monotonic() - cached[0] > PLAN_LIST_AGE_S):
            if local is not None:
                got = recorded_last(local / RECORD_ARTIFACT_DIR / RECORD_FILENAME)
            else:
                try:
                    with tempfile.TemporaryDirectory(prefix="orderlab-record-") as tmp:
                        got = recorded_last(self.record_file(run.run_id, run.artifact_uri, cache_dir=tmp))
                except StoreError:
                    got = None          # no record yet, or no answer: the tags stand
            cached = self._ended_progress[key] = (time.monotonic(), got)
        got = cached[1]
        if got is None or len(got[0]) <= run.checkpoints:
            return shown
        epochs, accs = got
        return len(epochs), float(epochs[-1]), accs.get("train"), accs.get("test")

    def record_file(self, run_id: str, artifact_uri: str | None = None, cache_dir: str | None = None) -> Path:
        """A local path to the run's record (downloaded for remote stores)."""
        local = self._artifact_dir(run_id, artifact_uri)
        if local is not None:
            return local / RECORD_ARTIFACT_DIR / RECORD_FILENAME
        dest = Path(cache_dir or tempfile.mkdtemp(prefix="orderlab-"))
        dest.mkdir(parents=True, exist_ok=True)
        from mlflow.exceptions import MlflowException
        try:
            got = self._retry(lambda: self.client.download_artifacts(
                run_id, f"{RECORD_ARTIFACT_DIR}/{RECORD_FILENAME}", str(dest)))
        except (MlflowException, OSError) as e:
            raise StoreError(f"run {run_id} has no readable record yet ({type(e).__name__})") from None
        return Path(got)

    def load_record(self, run: RunInfo | str) -> Record:
        """The run's record; a damaged one, or one naming another network, raises RecordError."""
        run_id, uri = (run.run_id, run.artifact_uri) if isinstance(run, RunInfo) else (run, None)
        owner = (run.arch, run.seed) if isinstance(run, RunInfo) else (None, None)
        local = self._artifact_dir(run_id, uri) is not None
        # a remote record is downloaded into a temporary folder, read, and deleted with it
        with contextlib.nullcontext() if local else tempfile.TemporaryDirectory(prefix="orderlab-record-") as tmp:
            path = self.record_file(run_id, uri, cache_dir=tmp)
            rec = load_record(path)
            check_owner(rec, path, run_id, *owner)
            return rec

    def record_exists(self, run: RunInfo) -> bool | None:
        """Whether the run has a record file; None when that cannot be told (the store unreachable)."""
        local = self._artifact_dir(run.run_id, run.artifact_uri)
        if local is not None:
            return (local / RECORD_ARTIFACT_DIR / RECORD_FILENAME).exists()
        try:
            files = self._retry(lambda: self.client.list_artifacts(run.run_id, RECORD_ARTIFACT_DIR))
        except Exception:  # noqa: BLE001 - unknown, not absent
            return None
        return any(f.path.endswith(RECORD_FILENAME) for f in files)

    def has_checkpoints(self, run: RunInfo) -> bool:
        """Whether ``run`` has recorded a checkpoint: its progress tag says so, or, for a run that
        ended early (the tag, written every 2 s, lags behind a killed process), its record is there
        (a record is published at the first checkpoint), in a local store or on a server."""
        return run.checkpoints > 0 or (run.status in ENDED_EARLY and bool(self.record_exists(run)))

    def load_records(self, study: str, runs: list[RunInfo] | None = None,
                     skip_missing: bool = True) -> list[tuple[RunInfo, Record]]:
        """Records of a study's network runs (runs with no checkpoint yet are skipped), one network
        per (architecture, seed): see :func:`one_run_per_network`."""
        runs = one_run_per_network(self.list_runs(study) if runs is None else runs)
        out = []
        for r in runs:
            if skip_missing and not self.has_checkpoints(r):
                continue
            try:
                out.append((r, self.load_record(r)))
            except StoreError:
                if not skip_missing:
                    raise
        return out

    def write_state(self, run_id: str, write: Callable[[Path], None], artifact_uri: str | None = None) -> None:
        """Publish a run's training-state file (resume): ``write(path)`` writes it. Local stores get it
        written next to its final place and renamed over it (atomic, no copy); others upload it."""
        local = self._artifact_dir(run_id, artifact_uri)
        if local is not None:
            dst = local / STATE_ARTIFACT_DIR / STATE_FILENAME
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".tmp")
            write(tmp)
            replace_file(tmp, dst)
            return
        with tempfile.TemporaryDirectory(prefix="orderlab-state-") as d:
            path = Path(d) / STATE_FILENAME
            write(path)
            self._retry(lambda: self.client.log_artifact(run_id, str(path), STATE_ARTIFACT_DIR))

    def state_file(self, run_id: str, name: str, dest: str | os.PathLike) -> Path | None:
        local = self._artifact_dir(run_id)
        if local is not None:
            p = local / STATE_ARTIFACT_DIR / name
            return p if p.exists() else None
        from mlflow.exceptions import MlflowException
        try:
            return Path(self._retry(lambda: self.client.download_artifacts(
                run_id, f"{STATE_ARTIFACT_DIR}/{name}", str(dest))))
        except (MlflowException, OSError):
            return None

    def write_examples(self, parent_run_id: str, local_file: Path) -> None:
        local = self._artifact_dir(parent_run_id)
        if local is not None:
            dst = local / EXAMPLES_ARTIFACT_DIR / THUMBNAILS_FILENAME
            dst.parent.mkdir(parents=True, exist_ok=True)
            # a name of its own: processes joining a study at once (sweep workers) may each write it
            tmp = dst.with_name(f"{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            shutil.copyfile(local_file, tmp)
            os.replace(tmp, dst)
            return
        self._retry(lambda: self.client.log_artifact(parent_run_id, str(local_file), EXAMPLES_ARTIFACT_DIR))

    def write_sweep_plan(self, study: str, plan: dict[str, Any]) -> None:
        """Keep what a sweep or a train sets out to train (its networks and settings, as JSON) in
        ``study``, on the parent run (``sweeps/<hash>.json``; the same plan again adds nothing), so
        that ``orderlab sweep --resume STUDY`` can also start the networks an interrupted command
        never reached."""
        import hashlib
        import json
        text = json.dumps(plan, sort_keys=True)
        name = hashlib.sha256(text.encode()).hexdigest()[:16] + ".json"
        parent = self.study_parent(study)
        local = self._artifact_dir(parent)
        if local is not None:
            # A database that cannot be written refuses the networks anyway: no plan is kept for them
            # in the artifact folder (which may well be writable), to be named as planned ever after.
            if self.uri.startswith("sqlite:///") and not os.access(sqlite_path(self.uri), os.W_OK):
                raise self._read_only()
            dst = local / SWEEP_ARTIFACT_DIR / name
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
                tmp.write_text(text)
                os.replace(tmp, dst)
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text)
            self._retry(lambda: self.client.log_artifact(parent, str(path), SWEEP_ARTIFACT_DIR))
        self._plan_lists.pop(parent, None)      # this process's own plan: listed anew, not up to 30 s late

    def sweep_plans(self, study: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """The plans sweeps and trains left in ``study`` (:meth:`write_sweep_plan`) as (where, plan), in file-name
        order, and the plan files that cannot be read (named, so that the caller can say so)."""
        return self._plans_on(self.study_parent(study))

    def _plans_on(self, parent: str, max_age: float = 0.0) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """:meth:`sweep_plans` of a study's ``parent`` run; ``max_age``: a tracking server's listing of
        the plans up to that many seconds old will do (a count or a note, polled; not a resume)."""
        import json
        local = self._artifact_dir(parent)
        texts: dict[str, str | None] = {}
        if local is not None:
            folder = local / SWEEP_ARTIFACT_DIR
            for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                try:
                    texts[str(f)] = f.read_text()
                except (OSError, UnicodeDecodeError):
                    texts[str(f)] = None
        else:
            from mlflow.exceptions import MlflowException
            listed = self._plan_lists.get(parent)
            if listed is None or time.monotonic() - listed[0] > max_age:
                listed = self._plan_lists[parent] = (
                    time.monotonic(), self._retry(lambda: self.client.list_artifacts(parent, SWEEP_ARTIFACT_DIR)))
            infos = listed[1]
            with tempfile.TemporaryDirectory() as tmp:
                for info in sorted(infos, key=lambda i: i.path):
                    if not info.path.endswith(".json"):
                        continue
                    if (parent, info.path) in self._plan_texts:
                        texts[info.path] = self._plan_texts[parent, info.path]
                        continue
                    try:
                        got = self._retry(lambda: self.client.download_artifacts(parent, info.path, tmp))
                        texts[info.path] = self._plan_texts[parent, info.path] = Path(got).read_text()
                    except (MlflowException, OSError, UnicodeDecodeError):
                        texts[info.path] = None
        plans, bad = [], []
        for where, text in texts.items():
            try:
                plan = json.loads(text) if text is not None else None
            except ValueError:
                plan = None
            if (isinstance(plan, dict) and isinstance(plan.get("archs"), list) and isinstance(plan.get("seeds"), list)
                    and all(isinstance(a, str) for a in plan["archs"])
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in plan["seeds"])):
                plans.append((where, plan))
            else:
                bad.append(where)
        return plans, bad

    def has_examples(self, parent_run_id: str) -> bool:
        """Whether the study holds a readable examples file (so that the next train of the study
        writes a damaged one anew)."""
        local = self._artifact_dir(parent_run_id)
        if local is not None:
            p = local / EXAMPLES_ARTIFACT_DIR / THUMBNAILS_FILENAME
            try:
                return p.exists() and bool(load_examples(p))
            except RecordError:
                return False
        files = self._retry(lambda: self.client.list_artifacts(parent_run_id, EXAMPLES_ARTIFACT_DIR))
        if not any(f.path.endswith(THUMBNAILS_FILENAME) for f in files):
            return False
        try:            # once per training process: a damaged file is written anew there too
            return self._download_examples(parent_run_id) is not None
        except RecordError:
            return False

    def _download_examples(self, parent: str) -> dict | None:
        """The examples file of a remote store's study (None when it cannot be fetched); a damaged
        one raises RecordError naming it as the store holds it."""
        from mlflow.exceptions import MlflowException
        where = f"{EXAMPLES_ARTIFACT_DIR}/{THUMBNAILS_FILENAME}"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                p = self._retry(lambda: self.client.download_artifacts(parent, where, tmp))
                try:
                    return load_examples(p)
                except RecordError as e:
                    why = e.problem or "is damaged"
                    raise RecordError(f"examples file {where} of the study's run {parent} {why}",
                                      problem=why) from None
        except (MlflowException, OSError):
            return None

    def load_examples(self, study: str) -> dict | None:
        """Thumbnails/texts of the study's examples, or None when the study has none."""
        parent = self.study_parent(study)
        local = self._artifact_dir(parent)
        if local is not None:
            p = local / EXAMPLES_ARTIFACT_DIR / THUMBNAILS_FILENAME
            return load_examples(p) if p.exists() else None
        return self._download_examples(parent)

    def report_runs(self, study: str) -> list[str]:
        """The study's report runs, oldest first (one, unless a report is being logged right now)."""
        runs = self._retry(lambda: self.client.search_runs(
            [self.experiment_id(study)], filter_string=f"tags.`{TAG_KIND}` = 'report'",
            order_by=["attributes.start_time ASC"], max_results=1000))
        return [r.info.run_id for r in runs]

    def log_report(self, study: str, files: Iterable[str | os.PathLike | tuple[str | os.PathLike, str | None]],
                   series: Iterable[tuple[dict[str, Iterable[float]], Iterable[int]]],
                   params: dict[str, Any] | None = None) -> str:
        """Log a report (its ``files`` under ``report/``, or ``(file, folder)`` pairs under
        ``report/<folder>/`` where a folder is given, metric ``series``, each a
        ``({name: values}, steps)`` pair, and ``params`` saying what it covers) as the study's report
        run, replacing the earlier one. The earlier run is deleted only once the new one is complete:
        a report that fails to log leaves the previous report in place, and its own half-logged run
        is deleted."""
        parent = self.study_parent(study)
        earlier = self.report_runs(study)
        run = self._retry(lambda: self.client.create_run(
            self.experiment_id(study), run_name=f"{study} report",
            tags={TAG_KIND: "report", TAG_STUDY: study, TAG_PARENT: parent}))
        run_id = run.info.run_id
        local = self._local_dir(run.info.artifact_uri)
        try:
            if params:
                self.log_params(run_id, params)
            for item in files:
                f, folder = item if isinstance(item, tuple) else (item, None)
                where = REPORT_ARTIFACT_DIR if not folder else f"{REPORT_ARTIFACT_DIR}/{folder}"
                if local is not None:         # in this store's own folder, also when it was moved
                    (local / where).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, local / where / Path(f).name)
                else:
                    self._retry(lambda: self.client.log_artifact(run_id, str(f), where))
            for values, steps in series:
                self.log_metric_series(run_id, values, steps)
            self._retry(lambda: self.client.set_terminated(run_id, "FINISHED"))
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.delete_run(run_id)
            raise
        for old in earlier:
            self._retry(lambda: self.client.delete_run(old))
        return run_id


# What a RelayedStore hands to the process that owns the MLflow client: every method that talks to
# MLflow, none that returns MLflow's own objects (the asking process need not import MLflow to read
# the answer). Local artifact files (records, training state, thumbnails) stay with the asker.
RELAYED = ("experiment_id", "study_names", "get_or_create_study", "parent_run_id", "study_parent", "list_studies",
           "list_runs", "list_runs_in", "get_run", "create_network_run", "log_params", "log_metrics",
           "log_metric_points", "metric_steps", "log_metric_series", "set_tags", "reclaim", "end_run",
           "supersede")
_OWN_PID = ("create_network_run", "reclaim")


class RelayedStore(Store):
    """A Store whose MLflow calls run in another process: a local sweep's worker asks the sweep's
    main process, which holds the one client. The worker then never imports MLflow (about 2 s of
    its start-up, and its memory), and the SQLite file has one writer per sweep instead of one per
    worker. ``call(name, args, kwargs)`` performs ``Store.name(*args, **kwargs)`` over there and
    returns its result or raises its exception. Anything not relayed falls back to a client of
    its own, so a missing entry costs time, never correctness."""

    def __init__(self, tracking_uri: str, call: Callable[[str, tuple, dict], Any]):
        super().__init__(tracking_uri, check=False)
        self._call = call

    def _artifact_dir(self, run_id: str, artifact_uri: str | None = None) -> Path | None:
        if artifact_uri is not None:          # known: no need to ask (every checkpoint does this)
            return self._local_dir(artifact_uri)
        return self._call("_artifact_dir", (run_id,), {})


def _relay(name: str):
    def method(self, *args, **kwargs):
        if name in _OWN_PID:
            kwargs.setdefault("pid", os.getpid())
        return self._call(name, args, kwargs)
    method.__name__ = name
    method.__doc__ = getattr(Store, name).__doc__
    return method


for _name in RELAYED:
    setattr(RelayedStore, _name, _relay(_name))
