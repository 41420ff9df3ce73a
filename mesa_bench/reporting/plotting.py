"""Pieces the report's figures share: a grid of panels and distinct colours."""

from __future__ import annotations


def grid(plt, n: int, width: float = 4.2, height: float = 3.2):
    """Returns a figure and a flat array of at least ``n`` axes, 3 a row; unused ones hidden."""
    cols = min(3, max(n, 1))
    rows = (max(n, 1) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def color(plt, i: int, n: int):
    """Returns the i-th of n distinct colours (tab10 up to 10 methods, then tab20)."""
    return f"C{i}" if n <= 10 else plt.get_cmap("tab20")(i % 20)
