"""orderlab.trainer: datasets, architectures, the training loop and the correctness recorder.

Imports torch lazily where it can; never imports textual.
"""
