"""`orderlab studies`, `orderlab runs`, `orderlab export`, `orderlab ui`: the store, read-only."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from orderlab.commands import console
from orderlab.commands.analysis import INTERRUPTED_OPTION
from orderlab.errors import OrderlabError, counted, epoch_text
from orderlab.terminal import say

URI_OPTION = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                          help="MLflow store or server (default sqlite:///./mlruns/mlflow.db).")


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Store")
    def studies(tracking_uri: Optional[str] = URI_OPTION) -> None:
        """List the studies in the store."""
        from rich import box
        from rich.table import Table
        from orderlab.store import Store, resolve_tracking_uri, sqlite_path
        from orderlab.studydata import suggest_for
        from orderlab.tables import SHRINKABLE, cell_len, cells, columns, fit_columns
        out = console()
        uri = resolve_tracking_uri(tracking_uri)
        if uri.startswith("sqlite:///") and not sqlite_path(uri).exists():   # listing creates nothing
            if tracking_uri:      # a store named (option or MLFLOW_TRACKING_URI) that is not there: a typo?
                Store(uri, must_exist=True)
            out.print(f"no studies in {uri} yet; start one with "
                      f"`{suggest_for(tracking_uri, 'orderlab', 'train', '--arch', 'mlp', '--seeds', '0-3')}`")
            return
        store = Store(uri)
        rows = store.list_studies()
        if not rows:
            out.print(f"no studies in {store.uri} yet; start one with "
                      f"`{suggest_for(tracking_uri, 'orderlab', 'train', '--arch', 'mlp', '--seeds', '0-3')}`")
            return
        # The TUI's columns, plus the networks in all (planned ones among them); "plan" only while
        # some study has networks planned with no run (a train or sweep under way, or one that
        # stopped: `orderlab sweep --resume STUDY` starts them). The names give way to the counts.
        shown = columns(rows)
        shown.insert(3, ("networks", "nets"))
        now = time.time()
        table = [cells(s, now) | {"networks": str(s.n_networks)} for s in rows]
        natural = {k: max([len(label)] + [cell_len(c[k]) for c in table]) for k, label in shown}
        # no borders, two cells between columns and none at the edges; the study's name gives way
        # to 8 cells, not the TUI's 10: "nets" takes the room
        widths = fit_columns(natural, out.width, SHRINKABLE | {"study": (8, 2.0)}, edges=-2)
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for key, label in shown:
            t.add_column(label, width=widths[key], no_wrap=True)
        for c in table:
            t.add_row(*(c[k] for k, _ in shown))
        out.print(t)

    @app.command(rich_help_panel="Store")
    def runs(study: str = typer.Argument(..., metavar="STUDY", help="Study name."),
             tracking_uri: Optional[str] = URI_OPTION) -> None:
        """List a study's network runs."""
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text
        from orderlab.store import Store, short_ids, shown_status
        from orderlab.tables import fit_columns, table_width
        from orderlab.terminal import in_terminal
        from orderlab.studydata import unstarted_note
        store = Store(tracking_uri, must_exist=True)
        rows = store.list_runs(study)
        # what the progress counts: a learner's stages, a network's epochs (both: the TUI's "epoch/stage")
        kinds = {r.stages for r in rows}
        unit = "epoch/stage" if len(kinds) > 1 else "stage" if kinds == {True} else "epoch"
        colours = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan", "STALE": "magenta",
                   "SUPERSEDED": "dim"}
        cells = []
        for r in rows:
            status = shown_status(r)
            error = r.error or ""
            # a killed run's record may hold more than its tags and metrics had said
            checkpoints, epoch, train_acc, test_acc = store.recorded_progress(r)
            cells.append([r.run_id, r.arch, str(r.seed), f"[{colours.get(status, 'white')}]{status}[/]",
                          f"{epoch_text(epoch)}/{epoch_text(r.epochs)}", str(checkpoints),
                          "" if train_acc is None else f"{train_acc:.3f}",
                          "" if test_acc is None else f"{test_acc:.3f}",
                          escape(error if len(error) <= 60 else error[:59] + "…")])

        errors = any(c[-1] for c in cells)
        heads = ["run id", "arch", "seed", "status", unit.replace("/", "/\n"), "ckpts", "train acc", "test acc", "error"]

        def widths(ids: dict[str, str], with_error: bool) -> list[int]:
            """Each column's cells, none wrapped or cut (the error column last, when shown)."""
            n = len(heads) - (not with_error)
            return [max([max(map(len, heads[k].split("\n")))] +
                        [len(ids[c[0]]) if k == 0 else Text.from_markup(c[k]).cell_len for c in cells]) for k in range(n)]

        def room(w: list[int]) -> int:
            return table_width(w, rule=1, edges=1)           # a bordered rich Table

        out = console()
        tty = in_terminal()
        # In a terminal, whole ids that leave no room give way first, then the errors move under the
        # table, then the architecture's name is cut with "…": the other columns stay whole. In a
        # pipe or a file the table is as wide as it needs, the ids whole for scripts to read.
        whole = {c[0]: c[0] for c in cells}
        short = tty and room(widths(whole, False)) > out.width
        ids = short_ids(list(whole)) if short else whole
        below = errors and tty and room(widths(ids, True)) > out.width
        w = widths(ids, errors and not below)
        if tty and room(w) > out.width:                       # the accuracies' headers on two lines
            heads[6:8] = ["train\nacc", "test\nacc"]
            w = widths(ids, errors and not below)
        if tty:
            fitted = fit_columns(dict(enumerate(w)), out.width, {1: (6, 1.0)}, rule=1, edges=1)
            w = [fitted[k] for k in range(len(w))]
        else:
            out.width = max(out.width, room(w))
        t = Table(title=f"study {escape(study)}")
        for k, width in enumerate(w):
            t.add_column(heads[k], width=width, no_wrap=True, overflow="ellipsis")
        for c in cells:
            t.add_row(ids[c[0]], *c[1:len(w)])
        out.print(t)
        for c, r in zip(cells, rows):
            if below and c[-1]:
                out.print(f"{ids[c[0]]} {r.arch}/s{r.seed}: {escape(r.error or '')}")
        if short:
            say("note: run ids shortened to fit the terminal; `orderlab train --resume` takes any beginning "
                "of a network's id that no other network's id shares", err=True)
        # (also with no run at all: a sweep interrupted before its first network had its plan)
        pending = unstarted_note(store, study, rows)
        if pending:
            say(f"note: {pending}", err=True)

    @app.command(rich_help_panel="Store")
    def export(study: str = typer.Argument(..., metavar="STUDY", help="Study name."),
               output: Path = typer.Option(..., "--output", "--out", "-o",
                                           help="Output file, ending in .npz (replaced if it exists)."),
               split: str = typer.Option("test", "--split", help="test or train."),
               align: str = typer.Option("strict", "--align", help="strict: refuse networks whose checkpoints "
                                         "differ; common: keep the checkpoints all share (with a warning)."),
               arch: Optional[List[str]] = typer.Option(None, "--arch", "-a", help="Only these architectures "
                                                        "(repeatable), on their own checkpoints: a learner's "
                                                        "stages whole, beside networks recorded by epoch."),
               include_interrupted: bool = INTERRUPTED_OPTION,
               tracking_uri: Optional[str] = URI_OPTION) -> None:
        """Write a study's correctness as one plain .npz (schema in the README)."""
        from orderlab.store import Store, run_folder_holding
        from orderlab.studydata import check_output_file, export_arrays, load_stack, write_export
        if align not in ("strict", "common"):
            raise OrderlabError(f"bad --align {align!r}: use strict or common")
        if not output.name:                         # -o "" (read as ".") or "."
            raise OrderlabError("-o/--output is empty or names the current folder; give a file ending in .npz, "
                                "e.g. -o study.npz")
        check_output_file(output)                   # before loading the study; write_export checks the rest
        if output.suffix != ".npz":
            raise OrderlabError(f"export file must end in .npz (got {output.name}); name it e.g. "
                                f"{output.with_name(output.name + '.npz') if output.suffix == '' else output.with_suffix('.npz')}")
        held = run_folder_holding(output)           # it would replace a record, say
        if held is not None:
            raise OrderlabError(f"cannot write {output}: it lies in a run's folder of recorded files, which it "
                                f"could replace; choose a file outside {held} with -o/--output")
        store = Store(tracking_uri, must_exist=True)
        stack = load_stack(store, study, split, align=align, keep_predicted=True, interrupted=include_interrupted,
                           archs=arch)
        from orderlab.analysis.stack import OWN_CHECKPOINTS, UNEVEN_ENDS
        for w in stack.warnings:        # the file holds the common checkpoints only, whatever analysis does
            if UNEVEN_ENDS in w:        # of measures over each network's own checkpoints: not in the file
                continue
            say(f"warning: {w.replace(OWN_CHECKPOINTS, 'the file holds only the common ones')}", err=True)
        path = write_export(export_arrays(stack), output)
        typer.echo(f"wrote {path}: {counted(stack.n_networks, 'network')} x "
                   f"{counted(stack.n_checkpoints, 'checkpoint')} x {counted(stack.n_examples, split + ' example')}")

    @app.command(rich_help_panel="Store")
    def ui(port: int = typer.Option(5000, "--port", help="Port on 127.0.0.1 (1-65535)."),
           tracking_uri: Optional[str] = URI_OPTION) -> None:
        """Start the MLflow UI on the same store, bound to 127.0.0.1."""
        import os
        from orderlab.store import Store, resolve_tracking_uri
        if not 1 <= port <= 65535:
            raise OrderlabError(f"--port must be between 1 and 65535 (got {port}); e.g. --port 5000")
        uri = resolve_tracking_uri(tracking_uri)
        if uri.startswith(("http://", "https://")):
            Store(uri)          # a server that does not answer is named, not sent to the browser
            typer.echo(f"the store is a tracking server: open {uri} in a browser")
            return
        check_port(UI_HOST, port)
        store = Store(uri, must_exist=True)     # a reading command: a mistyped path made an empty store
        # One worker: one user on this machine (MLflow's default of 4 each import MLflow, ~20 s to
        # start on 2 cores).
        cmd = [*mlflow_cli(), "ui", "--backend-store-uri", store.uri, "--host", UI_HOST, "--port", str(port),
               "--workers", "1"]
        if store._local_artifact_root is not None:
            cmd += ["--default-artifact-root", store._local_artifact_root.as_uri()]
        typer.echo(f"MLflow UI for {store.uri} at http://{UI_HOST}:{port}  (Ctrl-C to stop; it takes ~10 s to start)")
        elsewhere = store.made_elsewhere()
        if elsewhere is not None:       # the UI follows the recorded paths, not the store's folder
            say(f"note: this store was made in {elsewhere} and moved or copied here; the MLflow UI looks for "
                f"the runs' files there and shows them only where that folder still holds them "
                f"(orderlab's own commands read them here)", err=True)
        # MLflow's server imports a Starlette module Starlette has deprecated: a warning per worker
        # that the user can do nothing about.
        quiet = "ignore:starlette.middleware.wsgi is deprecated"
        warnings = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), quiet) if w)
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": warnings}
        # MLflow 3 starts a job runner and a pool of huey consumers (its GenAI jobs) beside the UI: ~10
        # processes and ~2.5 GB that browsing runs never uses. Off unless the user turns it on.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        run_ui(cmd, env, port)


UI_HOST = "127.0.0.1"


def mlflow_cli() -> list[str]:
    """orderlab's own MLflow command line, through this Python: an `mlflow` first on PATH may be
    another environment's, of another version, unfit for this store's schema."""
    import sys
    return [sys.executable, "-m", "mlflow"]


def _port_error(host: str, port: int, e: OSError) -> OrderlabError:
    import errno
    if e.errno == errno.EADDRINUSE:
        free = _free_port(host, port)
        return OrderlabError(f"port {port} on {host} is already in use (another MLflow UI or server?); choose "
                             f"another with --port" + (f", e.g. --port {free}" if free else ""))
    if e.errno == errno.EACCES:
        return OrderlabError(f"not allowed to listen on port {port} on {host} ({e.strerror}; ports below 1024 "
                             f"need root); choose --port between 1024 and 65535, e.g. --port 5000")
    return OrderlabError(f"cannot listen on port {port} on {host} ({e.strerror or type(e).__name__}); choose "
                         f"another with --port")


def _bind(host: str, port: int) -> None:
    """Bind and release ``port`` the way the MLflow UI's server (uvicorn) binds it: with SO_REUSEADDR,
    so a port left in TIME_WAIT by a stopped UI counts as free, as it is for uvicorn."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def _free_port(host: str, start: int) -> int | None:
    """A port after ``start`` that can be bound now (for the message), or None."""
    for p in range(start + 1, min(start + 50, 65535) + 1):
        try:
            _bind(host, p)
        except OSError:
            continue
        return p
    return None


def check_port(host: str, port: int) -> None:
    """Refuse, before starting the MLflow UI, a port it could not listen on."""
    try:
        _bind(host, port)
    except OSError as e:
        raise _port_error(host, port, e) from None


def run_ui(cmd: list[str], env: dict, port: int) -> None:
    """Run the MLflow UI until Ctrl-C, passing its output on. It never stops by itself when it
    works (the server runs until interrupted), so any other end is a failure: a one-line error and
    exit code 2, even where MLflow itself exits with 0 (it does, e.g., when the port is taken)."""
    import collections
    import signal
    import subprocess
    import sys
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1)
    except OSError as e:
        raise OrderlabError(f"cannot start the MLflow UI ({cmd[0]}: {e.strerror or e}); reinstall orderlab's "
                            f"dependencies (`pip install -e .` or `pip install mlflow`)") from None
    tail: collections.deque[str] = collections.deque(maxlen=50)
    try:
        for line in proc.stdout:
            if "allow connections from other hosts" in line:
                # MLflow's advice names options `orderlab ui` does not have; say what works instead
                line = (f"[orderlab] The UI answers on this machine only. From another, forward the port over "
                        f"SSH: ssh -L {port}:{UI_HOST}:{port} THIS_MACHINE, then open http://{UI_HOST}:{port}\n")
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip())
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)        # it got Ctrl-C too in a terminal; not when signalled alone
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise typer.Exit(0) from None
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    text = "\n".join(tail)
    if "Address already in use" in text or "[Errno 98]" in text:
        import errno
        raise _port_error(UI_HOST, port, OSError(errno.EADDRINUSE, "Address already in use"))
    errors = [ln for ln in tail if "error" in ln.lower()]
    why = " ".join((errors[-1] if errors else (tail[-1] if tail else "no output")).split())[:300]
    raise OrderlabError(f"the MLflow UI stopped unexpectedly (exit code {rc}): {why}; fix what its output above "
                        f"says and run `orderlab ui` again")
