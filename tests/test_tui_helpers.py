"""Shared set-up of the TUI tests: a real SQLite store with synthetic studies, the screen as
text, and waiting for the app's background workers."""
from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ALPHA, BETA, GAMMA, SOLO = "alpha", "beta", "gamma", "solo"


def write_examples(store, study: str, labels: np.ndarray) -> None:
    """Thumbnails for the study: an 8x8 sklearn digit of the example's label (offline, fixed)."""
    from sklearn.datasets import load_digits
    from orderlab.record import save_examples
    d = load_digits()
    first = {int(c): int(np.flatnonzero(d.target == c)[0]) for c in range(10)}
    imgs = np.stack([(d.images[first[int(y)]] * 255 / 16).astype(np.uint8) for y in labels])[..., None]
    with tempfile.TemporaryDirectory() as tmp:
        path = save_examples(Path(tmp) / "examples.npz", dataset="synthetic", kind="image",
                             class_names=[f"digit{i}" for i in range(10)],
                             splits={"test": {"example_id": np.arange(len(labels)), "image": imgs,
                                              "label": labels}})
        store.write_examples(store.study_parent(study), path)


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    """An empty store with MLflow's schema (creating the schema takes seconds; copying it, none)."""
    from orderlab.store import Store
    root = tmp_path_factory.mktemp("tui-empty")
    Store(f"sqlite:///{root}/mlruns/mlflow.db").study_names()
    return root / "mlruns" / "mlflow.db"


def new_store(empty_db: Path, root: Path) -> str:
    """A fresh, empty store under ``root`` (a copy of ``empty_db``); returns its URI."""
    (root / "mlruns").mkdir(parents=True, exist_ok=True)
    # SQLite's backup API, not a file copy: the store runs in WAL mode, so the latest schema
    # migrations may still sit in mlflow.db-wal beside the main file.
    import sqlite3
    src, dst = sqlite3.connect(empty_db), sqlite3.connect(root / "mlruns" / "mlflow.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{root}/mlruns/mlflow.db"


def build_store(uri: str) -> str:
    """alpha: mlp+cnn x 4 finished, with pictures; beta: the same data, mlp x 3; gamma: one
    finished and one failed network; solo: one network."""
    import random
    import uuid
    from unittest import mock
    from orderlab.store import Store
    st = Store(uri)
    # Fixed run ids: the order metrics split networks in halves ordered by run id, and the
    # snapshots must not change from one run of the tests to the next.
    rng = random.Random(0)
    with mock.patch("uuid.uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4)):
        _populate(st)
    return uri


def _populate(st) -> None:
    from orderlab.synthetic import populate_store
    populate_store(st, ALPHA, archs=("mlp", "cnn"), seeds=4, n_checkpoints=9, n_examples=300)
    populate_store(st, BETA, archs=("mlp",), seeds=3, n_checkpoints=9, n_examples=300, seed=0)
    ids = populate_store(st, GAMMA, archs=("mlp",), seeds=2, n_checkpoints=5, n_examples=200, finish=False)
    st.end_run(ids[0], "FINISHED")
    st.end_run(ids[1], "FAILED", error="RuntimeError: CUDA out of memory")
    populate_store(st, SOLO, archs=("cnn",), seeds=1, n_checkpoints=5, n_examples=200)
    labels = st.load_records(ALPHA)[0][1].split("test").label
    write_examples(st, ALPHA, labels)


@pytest.fixture(scope="session")
def tui_store(tmp_path_factory, empty_db) -> str:
    """The shared, read-only store (one per test process)."""
    return build_store(new_store(empty_db, tmp_path_factory.mktemp("tui-store")))


def screen_text(app) -> str:
    """What the user sees, as plain text."""
    from rich.console import Console
    w, h = app.size
    con = Console(width=w, height=h, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                  record=True, legacy_windows=False, safe_box=False)
    con.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return con.export_text()


def shows(app, phrase: str) -> bool:
    """Whether the screen shows ``phrase`` (lines wrapped by the terminal are joined)."""
    return phrase in " ".join(screen_text(app).split())


async def wait_for(pilot, cond, timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until ``cond()`` holds (the workers are real threads reading a real store)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause(0.05)
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - widgets may not exist yet
            pass
    raise AssertionError(f"timed out waiting for {what or cond}; screen:\n{screen_text(pilot.app)}")


def study_ready(app) -> bool:
    """The study screen has its data and the chosen checkpoint's results."""
    s = app.screen
    return getattr(s, "data", None) is not None and s.data.stack is not None and s.cp_result is not None \
        and s.cp_result.checkpoint == s.checkpoint


def pilot_test(fn):
    """Run an async pilot scenario as a plain test (no asyncio plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper


def make_app(uri, **kw):
    from orderlab.app.app import OrderlabApp
    kw.setdefault("refresh", 5.0)         # read-only tests need no polling; live tests set it small
    kw.setdefault("clock", lambda: 0.0)
    return OrderlabApp(uri, **kw)
