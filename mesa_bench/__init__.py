"""mesa-bench: does meta-learning find a learned optimizer, how easily, and what does it pursue?"""

__version__ = "0.1.0"
