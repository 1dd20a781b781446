"""orderlab: do neural networks learn the same examples in the same order?"""

__version__ = "0.1.0"
