"""The TUI's start-up with 1,000 runs in the store, and its heatmap redraw for the next checkpoint.

Builds a real SQLite store (synthetic records, no training): one large study (2 architectures x
50 networks, 41 checkpoints, 5,000 test examples) and small studies up to ``--runs`` networks in
all. Then, each against a reference measured in the same run:

* start-up: a fresh ``orderlab`` process (the TUI, headless) until its first paint and until the
  list of studies is on screen, against a fresh ``orderlab --help`` (the CLI's own start-up);
* redraw: press ``]`` on the heatmap of the large study (100 x 100 network matrix plus the
  architecture matrix and the histogram) until the next checkpoint is drawn, against the 200 ms
  a user notices; measured for every checkpoint in turn (as a user steps or plays through them).

    python benchmarks/tui.py                   # 1,000 runs (building the store takes minutes)
    python benchmarks/tui.py --runs 300        # quicker
    python benchmarks/tui.py --store DIR       # build the store in DIR once, reuse it afterwards

The last line gives both ratios (below 1 for the redraw: faster than a user notices).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

BIG = "big"
BIG_SEEDS, BIG_CHECKPOINTS, BIG_EXAMPLES = 50, 41, 5000
SMALL_PER_STUDY = 100
NOTICE_S = 0.200


def build(root: Path, runs: int) -> str:
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    marker = root / f"built-{runs}"
    if marker.exists():
        print(f"reusing the store in {root}")
        return uri
    store = Store(uri)
    t0 = time.perf_counter()
    populate_store(store, BIG, archs=("mlp", "cnn"), seeds=BIG_SEEDS, n_checkpoints=BIG_CHECKPOINTS,
                   n_examples=BIG_EXAMPLES, splits=("test",))
    left, i = runs - 2 * BIG_SEEDS, 0
    while left > 0:
        n = min(SMALL_PER_STUDY, left)
        populate_store(store, f"small{i:02d}", archs=("mlp",), seeds=n, n_checkpoints=5, n_examples=100,
                       splits=("test",), seed=i + 1)
        left -= n
        i += 1
        print(f"  {runs - left} runs written ({time.perf_counter() - t0:.0f} s)", flush=True)
    marker.touch()
    print(f"built the store: {runs} runs in {time.perf_counter() - t0:.0f} s")
    return uri


# ------------------------------------------------------------------ start-up (child process)

CHILD = """
import asyncio, sys, time
from orderlab.app.app import OrderlabApp
uri, t0, n_studies = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
async def main():
    app = OrderlabApp(uri, refresh=3600)
    marks = {}
    async with app.run_test(size=(120, 40)) as pilot:
        # First paint: the first refresh of the screen after it is mounted.
        app.screen.call_after_refresh(lambda: marks.setdefault("paint", time.time()))
        while len(app.known_studies) < n_studies or "paint" not in marks:
            await asyncio.sleep(0.005)
        listed = time.time()
    print(f"RESULT {marks['paint'] - t0:.4f} {listed - t0:.4f}")
asyncio.run(main())
"""


BARE = """
import asyncio, sys, time
from textual.app import App
from textual.widgets import Static
t0 = float(sys.argv[1])
class Bare(App):
    def compose(self):
        yield Static("hello")
async def main():
    app = Bare()
    marks = {}
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.call_after_refresh(lambda: marks.setdefault("paint", time.time()))
        while "paint" not in marks:
            await asyncio.sleep(0.005)
    print(f"RESULT {marks['paint'] - t0:.4f}")
asyncio.run(main())
"""

MLFLOW_FLOOR = """
import sys, time
from mlflow.tracking import MlflowClient
MlflowClient(tracking_uri=sys.argv[1]).search_experiments(max_results=1)
"""


def _timed(args: list[str]) -> float:
    t0 = time.time()
    subprocess.run(args, check=True, capture_output=True)
    return time.time() - t0


def _child(code: str, *args: str) -> list[float]:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args[:1], repr(t0), *args[1:]], check=True,
                         capture_output=True, text=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    return [float(v) for v in line.split()[1:]]


def startup(uri: str, n_studies: int, repeats: int) -> dict[str, float]:
    """Median seconds of fresh processes: `orderlab --help`, a bare Textual app's first paint,
    MLflow's import and first query (the floor under any reader of the store), and the TUI's
    first paint and list of studies."""
    runs: dict[str, list[float]] = {"help": [], "bare": [], "mlflow": [], "paint": [], "list": []}
    for _ in range(repeats):
        runs["help"].append(_timed([sys.executable, "-m", "orderlab.cli", "--help"]))
        runs["bare"].append(_child(BARE)[0])
        runs["mlflow"].append(_timed([sys.executable, "-c", MLFLOW_FLOOR, uri]))
        paint, listed = _child(CHILD, uri, str(n_studies))
        runs["paint"].append(paint)
        runs["list"].append(listed)
    return {k: statistics.median(v) for k, v in runs.items()}


# ------------------------------------------------------------------ heatmap redraw

async def redraw(uri: str) -> tuple[list[float], float]:
    """Seconds from pressing ] to the heatmap showing the next checkpoint, for every step."""
    from orderlab.app.app import OrderlabApp
    from orderlab.store import Store
    Store(uri).list_studies()                   # MLflow loaded: its start-up is measured above
    app = OrderlabApp(uri, study=BIG, refresh=3600)
    async with app.run_test(size=(160, 50)) as pilot:
        t0 = time.perf_counter()
        while not (getattr(app.screen, "cp_result", None) is not None
                   and app.screen.cp_result.checkpoint == app.screen.checkpoint):
            await pilot.pause(0.01)
        opened = time.perf_counter() - t0
        screen = app.screen
        await pilot.press("3", "home")
        while screen.cp_result.checkpoint != 0:
            await pilot.pause(0.01)
        drawing = screen.query_one("#heat-net")
        await pilot.pause(0.5)                  # let the prefetch of checkpoint 1 finish, as a user would
        times = []
        for target in range(1, screen.data.stack.n_checkpoints):
            draws = drawing.draws
            t = time.perf_counter()
            await pilot.press("right_square_bracket")
            while not (screen.cp_result.checkpoint == target and drawing.draws > draws):
                await pilot.pause(0)
            times.append(time.perf_counter() - t)
    return times, opened


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--store", type=Path, default=None, help="build (or reuse) the store here")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.runs < 2 * BIG_SEEDS + 1:
        ap.error(f"--runs must be above {2 * BIG_SEEDS}")
    tmp = None
    if args.store is None:
        tmp = tempfile.TemporaryDirectory(prefix="orderlab-bench-tui-")
        root = Path(tmp.name)
    else:
        root = args.store
        root.mkdir(parents=True, exist_ok=True)
    uri = build(root, args.runs)
    n_studies = 1 + -(-(args.runs - 2 * BIG_SEEDS) // SMALL_PER_STUDY)

    st = startup(uri, n_studies, args.repeats)
    help_s, paint_s, list_s = st["help"], st["paint"], st["list"]
    print(f"orderlab --help:                    {help_s * 1000:7.0f} ms (reference)")
    print(f"bare Textual app, first paint:      {st['bare'] * 1000:7.0f} ms (context)")
    print(f"import mlflow + first query:        {st['mlflow'] * 1000:7.0f} ms (context: the floor of any store reader)")
    print(f"tui first paint:                    {paint_s * 1000:7.0f} ms ({paint_s / help_s:.2f}x --help, "
          f"{paint_s / st['bare']:.2f}x a bare Textual app)")
    print(f"tui list of {n_studies} studies, {args.runs} runs: {list_s * 1000:7.0f} ms ({list_s / help_s:.2f}x --help, "
          f"{list_s / st['mlflow']:.2f}x mlflow's floor)")

    times, opened = asyncio.run(redraw(uri))
    med, worst = statistics.median(times), max(times)
    print(f"open the {2 * BIG_SEEDS}-network study:        {opened * 1000:7.0f} ms (read records, analyse, draw)")
    print(f"heatmap redraw, next checkpoint:    {med * 1000:7.0f} ms median, {worst * 1000:.0f} ms worst "
          f"over {len(times)} steps ({2 * BIG_SEEDS}x{2 * BIG_SEEDS} networks, {BIG_EXAMPLES} examples)")
    print(f"RATIOS start-up (list shown) / orderlab --help = {list_s / help_s:.2f}; "
          f"first paint / --help = {paint_s / help_s:.2f}; "
          f"heatmap redraw / {NOTICE_S * 1000:.0f} ms = {med / NOTICE_S:.2f} (worst {worst / NOTICE_S:.2f})")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
