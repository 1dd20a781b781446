"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class OrderlabError(Exception):
    """A problem with the user's input or environment, with a message that names the fix."""
