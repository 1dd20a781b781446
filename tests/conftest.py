"""Shared test set-up: every test runs in its own temporary directory, so the default store
(./mlruns/mlflow.db) lands there and never in the repository."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The Ctrl-C tests send SIGINT to this process and to the commands it starts. A non-interactive
# shell that starts a command with & (`make test &` in a script, a CI runner) hands it SIGINT
# ignored, which Python and every child keep: those tests then fail for the environment, not the
# code. Python's own handler here (the xdist workers and the commands they start get the default
# back at exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):    # a CI's colours: tests read plain text
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def store_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/mlruns/mlflow.db"


def module_store_uri():
    """``store_uri = module_store_uri()`` in a module: one store for its tests (creating MLflow's
    schema costs seconds), which use their own studies."""
    @pytest.fixture(scope="module", name="store_uri")
    def shared(tmp_path_factory) -> str:
        return f"sqlite:///{tmp_path_factory.mktemp('store')}/mlruns/mlflow.db"
    return shared


@pytest.fixture
def store(store_uri):
    from orderlab.store import Store
    return Store(store_uri)


def records_by_seed(store, study: str) -> dict:
    """{seed: (run, record)} of a study's runs."""
    return {r.seed: (r, store.load_record(r)) for r in store.list_runs(study)}


def race_for_study(uri: str, studies: int = 12, starters: int = 6) -> None:
    """``starters`` stores (threads) start each study at once; all get its one parent run."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from orderlab.store import Store
    stores = [Store(uri) for _ in range(starters)]
    for s in stores:
        s.client                                  # opened beforehand: the race is the study's alone
    for k in range(studies):
        gate = threading.Barrier(starters)

        def go(s, k=k, gate=gate):
            gate.wait()
            return s.get_or_create_study(f"race-{k}", "d", "fp")[1]
        with ThreadPoolExecutor(starters) as ex:
            parents = list(ex.map(go, stores))
        assert set(parents) == {stores[0].study_parent(f"race-{k}")}, (k, parents)
        runs = stores[0].client.search_runs([stores[0].experiment_id(f"race-{k}")])
        assert len(runs) == 1, (k, [r.info.run_id for r in runs])


def require_fashion_mnist() -> None:
    """Skip without Debian's dataset-fashion-mnist, except in CI (CI=true) where it must be there."""
    if (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Debian's dataset-fashion-mnist is missing in CI; .ci/run must install it")
    pytest.skip("dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)")


def stop_after(n: int):
    """A reporter that presses Ctrl-C after ``n`` checkpoints (raised where the training loop
    reports a checkpoint's metrics): an interrupted run, for the resume tests."""
    from orderlab.trainer.progress import Reporter

    class StopAfter(Reporter):
        seen = 0

        def network_progress(self, fraction, metrics):
            if metrics:
                self.seen += 1
                if self.seen == n:
                    raise KeyboardInterrupt
    return StopAfter()


def whole_and_cut(tracking_uri: str, name: str, n: int, **cfg):
    """Train ``cfg`` uninterrupted (study ``NAME-whole``) and again interrupted after ``n``
    checkpoints (``NAME-cut``); returns the cut run, KILLED with ``n`` checkpoints recorded."""
    from orderlab.trainer.api import TrainConfig, train_study
    train_study(TrainConfig(study=f"{name}-whole", tracking_uri=tracking_uri, **cfg))
    return cut_run(tracking_uri, f"{name}-cut", n, **cfg)


def cut_run(tracking_uri: str, study: str, n: int, **cfg):
    """Train one network of ``cfg`` into ``study``, interrupted (Ctrl-C) after ``n`` checkpoints;
    returns its run, KILLED with ``n`` checkpoints recorded."""
    from orderlab.store import Store
    from orderlab.trainer.api import TrainConfig, train_study
    with pytest.raises(KeyboardInterrupt):
        train_study(TrainConfig(study=study, tracking_uri=tracking_uri, **cfg), stop_after(n))
    [cut] = Store(tracking_uri).list_runs(study)
    assert cut.status == "KILLED" and cut.checkpoints == n
    return cut


def assert_one_line_error(result, *needles) -> str:
    """A CliRunner result that is the project's bad-input answer: exit code 2, one line on stderr
    starting with ``error: ``, no traceback, containing every needle. Returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in result.output
    for n in needles:
        assert n in err, (n, err)
    return err


def studies_row(output: str, study: str) -> dict[str, str]:
    """`orderlab studies`' row of ``study``, by column label (the table has no borders: two spaces
    or more part its cells, one may sit inside a cell, as in "mlp, cnn")."""
    import re
    lines = output.splitlines()
    labels = re.split(r"\s{2,}", lines[0].strip())
    row = next(line for line in lines[2:] if line.split()[0] == study)
    return dict(zip(labels, re.split(r"\s{2,}", row.strip()), strict=True))
