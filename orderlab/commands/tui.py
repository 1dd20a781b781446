"""`orderlab tui`: the terminal interface (Textual loads inside the command)."""
from __future__ import annotations

import math
import sys
from typing import Optional

import typer

from orderlab.errors import OrderlabError


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Look")
    def tui(
        tracking_uri: Optional[str] = typer.Option(
            None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
            help="MLflow store or server (default sqlite:///./mlruns/mlflow.db)."),
        study: Optional[str] = typer.Option(None, "--study", help="Open this study directly."),
        compare: Optional[str] = typer.Option(None, "--compare", help="With --study: compare it with this "
                                              "study of the same data (the heatmap spans both)."),
        split: str = typer.Option("test", "--split", help="test or train (t switches inside)."),
        refresh: float = typer.Option(2.0, "--refresh", help="Seconds between polls of the store."),
    ) -> None:
        """Browse studies in the terminal: runs, agreement, heatmaps, histograms, order, examples; live."""
        if split not in ("train", "test"):
            raise OrderlabError(f"bad --split {split!r}: use train or test")
        if not 0 < refresh < math.inf:
            raise OrderlabError(f"--refresh must be a positive number of seconds (got {refresh})")
        if compare and not study:
            raise OrderlabError("--compare needs --study (the study to compare it with)")
        if compare and compare == study:
            raise OrderlabError(f"--compare {compare} names the study itself; name another study of the same data")
        if tracking_uri:
            # The TUI waits for a store that is missing or a server that is down; a URI of a form
            # MLflow cannot use never starts working.
            from orderlab.store import uri_form_problem
            problem = uri_form_problem(tracking_uri)
            if problem:
                raise OrderlabError(problem)
        # Textual reads keys from stdin and draws on stderr: redirected, it would write escape codes
        # into a file and wait for keys that never come.
        redirected = [name for name, stream in (("standard input", sys.stdin), ("standard error", sys.stderr))
                      if not _is_terminal(stream)]
        if redirected:
            raise OrderlabError(f"orderlab tui needs a terminal, and its {' and '.join(redirected)} "
                                f"{'is' if len(redirected) == 1 else 'are'} not one: run it in a terminal "
                                "without redirecting them (for text and files: orderlab analyze, report, export)")
        from orderlab.app.app import OrderlabApp
        tui_app = OrderlabApp(tracking_uri, study, refresh=refresh, split=split, compare=compare, exit_on_signal=True)
        tui_app.run()
        if tui_app.return_code == OrderlabApp.TERMINATED:
            typer.echo("interrupted", err=True)
            raise typer.Exit(OrderlabApp.TERMINATED)


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):     # a closed or replaced stream
        return False
