"""orderlab.analysis: agreement metrics and reports on correctness records (NumPy only)."""
