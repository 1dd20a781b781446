"""orderlab.app: the Textual TUI. Reads studies; never trains and never imports torch."""
