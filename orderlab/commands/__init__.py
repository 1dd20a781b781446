"""CLI command groups. Each module only imports typer/rich at top level; heavy imports live inside
the command functions so that `orderlab --help` stays fast."""


def console(stderr: bool = False):
    """A rich Console; wide when output is not a terminal (pipes, files, tests) so tables never squash."""
    import sys

    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)
