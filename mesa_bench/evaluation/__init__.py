"""Scoring a method: the public trials (``trials``), the evaluator's checkpoints and final
splits (``evaluator``), and algorithm-match and behavioral-objective statistics
(``matching``)."""
