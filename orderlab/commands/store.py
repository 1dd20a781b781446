"""`orderlab studies`, `orderlab runs`, `orderlab export`, `orderlab ui`: the store, read-only."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from orderlab.commands import console
from orderlab.errors import OrderlabError

URI_OPTION = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                          help="MLflow store or server (default sqlite:///./mlruns/mlflow.db).")


def _ago(t: float) -> str:
    d = max(0.0, time.time() - t)
    if d < 60:
        return f"{d:.0f}s ago"
    if d < 3600:
        return f"{d / 60:.0f}m ago"
    if d < 86400:
        return f"{d / 3600:.1f}h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Store")
    def studies(tracking_uri: Optional[str] = URI_OPTION) -> None:
        """List the studies in the store."""
        from rich.table import Table
        from orderlab.store import Store
        store = Store(tracking_uri)
        rows = store.list_studies()
        out = console()
        if not rows:
            out.print(f"no studies in {store.uri} yet; start one with `orderlab train --arch mlp --seeds 0-3`")
            return
        t = Table("study", "dataset", "architectures", "networks", "running", "finished", "failed/killed",
                  "stale", "checkpoints", "last update")
        for s in rows:
            t.add_row(s.name, s.dataset, ", ".join(s.archs), str(s.n_runs), str(s.n_running), str(s.n_finished),
                      str(s.n_failed), str(s.n_stale), str(s.checkpoints), _ago(s.last_update))
        out.print(t)

    @app.command(rich_help_panel="Store")
    def runs(study: str = typer.Argument(..., help="Study name."),
             tracking_uri: Optional[str] = URI_OPTION) -> None:
        """List a study's network runs."""
        from rich.table import Table
        from orderlab.store import Store
        store = Store(tracking_uri)
        rows = store.list_runs(study)
        t = Table("run id", "arch", "seed", "status", "epoch", "checkpoints", "train acc", "test acc", "error",
                  title=f"study {study}")
        colours = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan", "STALE": "magenta"}
        for r in rows:
            t.add_row(r.run_id, r.arch, str(r.seed), f"[{colours.get(r.status, 'white')}]{r.status}[/]",
                      f"{r.epoch:g}/{r.epochs:g}", str(r.checkpoints),
                      "" if r.train_acc is None else f"{r.train_acc:.3f}",
                      "" if r.test_acc is None else f"{r.test_acc:.3f}", (r.error or "")[:60])
        console().print(t)

    @app.command(rich_help_panel="Store")
    def export(study: str = typer.Argument(..., help="Study name."),
               output: Path = typer.Option(..., "--output", "-o", help="Output .npz file."),
               split: str = typer.Option("test", "--split", help="test or train."),
               align: str = typer.Option("strict", "--align", help="strict: refuse networks whose checkpoints "
                                         "differ; common: keep the checkpoints all share (with a warning)."),
               tracking_uri: Optional[str] = URI_OPTION) -> None:
        """Write a study's correctness as one plain .npz (schema in the README)."""
        from orderlab.store import Store
        from orderlab.studydata import export_arrays, load_stack, write_export
        if align not in ("strict", "common"):
            raise OrderlabError(f"bad --align {align!r}: use strict or common")
        store = Store(tracking_uri)
        stack = load_stack(store, study, split, align=align, keep_predicted=True)
        for w in stack.warnings:
            typer.echo(f"warning: {w}", err=True)
        path = write_export(export_arrays(stack), output)
        typer.echo(f"wrote {path}: {stack.n_networks} networks x {stack.n_checkpoints} checkpoints x "
                   f"{stack.n_examples} {split} examples")

    @app.command(rich_help_panel="Store")
    def ui(port: int = typer.Option(5000, "--port", help="Port on 127.0.0.1."),
           tracking_uri: Optional[str] = URI_OPTION) -> None:
        """Start the MLflow UI on the same store, bound to 127.0.0.1."""
        import os
        import shutil
        import subprocess
        import sys
        from orderlab.store import Store, resolve_tracking_uri
        uri = resolve_tracking_uri(tracking_uri)
        if uri.startswith(("http://", "https://")):
            typer.echo(f"the store is a tracking server: open {uri} in a browser")
            return
        store = Store(uri)
        mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
        cmd = [mlflow, "ui", "--backend-store-uri", store.uri, "--host", "127.0.0.1", "--port", str(port)]
        if store._local_artifact_root is not None:
            cmd += ["--default-artifact-root", store._local_artifact_root.as_uri()]
        typer.echo(f"MLflow UI for {store.uri} at http://127.0.0.1:{port}  (Ctrl-C to stop; it takes ~20 s to start)")
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        try:
            raise typer.Exit(subprocess.call(cmd, env=env))
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
