"""CLI command groups. Each module only imports typer/rich at top level; heavy imports live inside
the command functions so that `orderlab --help` stays fast."""
from orderlab.terminal import make_console as console  # noqa: F401  (the commands' Console)
