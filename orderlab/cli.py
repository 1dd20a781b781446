"""The `orderlab` command line. Command groups live in orderlab/commands/*.py; each exposes
``register(app)``. Nothing heavy is imported here: torch, mlflow and textual load inside commands."""
from __future__ import annotations

import sys

import click
import typer
from typer import core
from typer.core import TyperGroup

from orderlab.errors import OrderlabError
from orderlab.plugins import import_present

# The Click that Typer runs on (Typer >= 0.22 carries its own copy as typer._click): its exceptions
# are the ones raised on the command line.
_clk = sys.modules[typer.BadParameter.__module__]
_NoArgsIsHelp = getattr(_clk, "NoArgsIsHelpError", ())     # Click >= 8.2


def _one_value(text):
    # a repeatable option takes one value each time (`-a mlp -a cnn`), STUDY... one name each:
    # "<str>", not "<list[str]>"
    return f"<{text[6:-2]}>" if text and text.startswith("<list[") and text.endswith("]>") else text


class _Option(core.TyperOption):
    """Typer (0.2x) writes a flag's type beside it in --help ("--quiet -q <bool>"), which reads as if
    it took a value (`-q true` is then refused): a flag gets no type there."""

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else _one_value(super().display_type_rich(ctx))


class _Argument(core.TyperArgument):
    def display_type_rich(self, ctx):
        return _one_value(super().display_type_rich(ctx))


class _OwnParams:
    """A command (or the group) whose options and arguments show their types as above: only
    orderlab's, so another Typer app in the same process keeps Typer's help."""

    def get_params(self, ctx):
        params = super().get_params(ctx)        # --help among them, made at the first call
        for p in params:                        # Typer makes them; only their help text changes
            if type(p) is core.TyperOption:
                p.__class__ = _Option
            elif type(p) is core.TyperArgument:
                p.__class__ = _Argument
        return params


class _Group(_OwnParams, TyperGroup):
    """Turns every OrderlabError, and every usage error Click finds on the command line (an unknown
    option or command, a value that does not parse), into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OrderlabError as e:
            typer.echo("error: " + " ".join(str(e).split()), err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # Commands that train say what their interrupt left; any other Ctrl-C (or one after a
            # command's own handling, e.g. once `train` has printed what it recorded) says at least
            # this much: Typer would turn it into a silent exit 130.
            typer.echo("interrupted", err=True)
            sys.exit(INTERRUPTED)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            # Not standalone: Click raises its usage errors here instead of drawing Typer's box.
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NoArgsIsHelp as e:
            e.show()                # `orderlab` alone, or a group without its command: the help
            sys.exit(e.exit_code)
        except _clk.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "orderlab"
            if e.ctx is None or e.ctx.command is self:     # some errors name the group: name the command
                argv = list(sys.argv[1:] if args is None else args)
                named = [i for i, a in enumerate(argv) if a in self.commands]
                opt = getattr(e, "option_name", None)
                before = opt in argv and named and argv.index(opt) < named[0]   # `orderlab --bogus train`
                if named and not before:
                    where = f"{where} {argv[named[0]]}"
            if isinstance(e, _clk.NoSuchOption) and e.possibilities:
                e.possibilities = _close_options(e.option_name, e.possibilities)
            msg = " ".join(e.format_message().split()).rstrip(". ")
            typer.echo(f"error: {msg}{' ' if msg.endswith('?') else '; '}see `{where} --help`", err=True)
            sys.exit(2)
        except _clk.ClickException as e:
            typer.echo("error: " + " ".join(e.format_message().split()), err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        # Not standalone, an Exit (typer.Exit(2), --help's exit 0) comes back as its code; commands
        # themselves return None.
        sys.exit(rv if isinstance(rv, int) else 0)


def _close_options(name: str, candidates: list[str]) -> list[str]:
    """Click's suggestions for a mistyped option, judged on the names without their dashes (with
    them, every option looks alike: it offered `--out` for `--bogus`)."""
    import difflib
    bare = name.lstrip("-")
    return [c for c in candidates if difflib.SequenceMatcher(None, bare, c.lstrip("-")).ratio() >= 0.6]


# Below this many columns a command's --help is Click's plain one (see _Command.format_help).
RICH_HELP_COLUMNS = 100


class _Command(_OwnParams, core.TyperCommand):
    """orderlab's commands, with Click's plain help where the terminal is narrow."""

    def format_help(self, ctx, formatter):
        """Typer's rich help gives each option four name columns and a type column before its
        description: at 80 columns `train --help` squeezed every description into 30 columns, a
        word or two a line. In a narrower terminal (or a pipe, 80 columns as rich takes it) a
        command's help is Click's own: names and type in one column, the description beside them.
        The list of commands (`orderlab --help`) keeps its panels, which fit."""
        import shutil
        if shutil.get_terminal_size((80, 24)).columns < RICH_HELP_COLUMNS:
            return super(core.TyperCommand, self).format_help(ctx, formatter)     # Click's (Typer's own copy)
        return super().format_help(ctx, formatter)


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

for _mod in import_present(COMMAND_MODULES):
    _mod.register(app)
for _info in app.registered_commands:     # app.command() fills in Typer's class where none is named
    if _info.cls in (None, core.TyperCommand):
        _info.cls = _Command


INTERRUPTED, TERMINATED = 130, 143      # the shells' codes for a death by SIGINT and by SIGTERM
_TERMINATED: list[int] = []


def _terminate(signum, frame) -> None:
    # `kill` or `timeout` stop training as Ctrl-C does (runs end KILLED, resumable), but the exit
    # code says which it was, as a shell would (a scheduler's script tells a cancel from a Ctrl-C).
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


def main() -> None:
    import signal
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(TERMINATED if _TERMINATED else INTERRUPTED) from None
    except SystemExit as e:     # a command's own exit on an interrupt
        if e.code == INTERRUPTED and _TERMINATED:
            raise SystemExit(TERMINATED) from None
        raise


if __name__ == "__main__":
    main()
