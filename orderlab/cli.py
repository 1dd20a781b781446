"""The `orderlab` command line. Command groups live in orderlab/commands/*.py; each exposes
``register(app)``. Only typer is imported here: torch, mlflow and textual load inside commands."""
from __future__ import annotations

import importlib
import sys

import click
import typer
from typer.core import TyperGroup

from orderlab.errors import OrderlabError


class _Group(TyperGroup):
    """Turns every OrderlabError into a one-line message and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OrderlabError as e:
            typer.echo("error: " + " ".join(str(e).split()), err=True)
            sys.exit(2)


app = typer.Typer(
    cls=_Group,
    name="orderlab",
    help="Do neural networks learn the same examples in the same order? Train families of networks, "
         "record every example's correctness in MLflow, and measure how much they agree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

COMMAND_MODULES = [
    "orderlab.commands.train",      # train, demo, archs, datasets
    "orderlab.commands.store",      # studies, runs, export, ui
    "orderlab.commands.analysis",   # analyze, report, examples
    "orderlab.commands.tui",        # tui
    "orderlab.commands.sweep",      # sweep
    "orderlab.commands.reproduce",  # reproduce
]

for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _e:
        if _e.name != _name:
            raise
        continue
    _mod.register(app)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt     # `kill` or `timeout` stop training as Ctrl-C does: runs end KILLED, resumable


def main() -> None:
    import signal
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
