"""Entry figures: every kind renders, with and without training curves or proxies."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from leaderboard import figures
from leaderboard.scoring import entry_metrics


def _image(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (700, 360)
    return np.asarray(image.convert("L"), float)


def _untrained(results):
    """The same runs as a reference would give them: no budget, no learning curve."""
    runs = [r.model_copy(update={"budget": 0, "curve": []}) for r in results.runs]
    return results.model_copy(update={"runs": runs})


# (figure, family, trained): each branch once; bandit-v1 has no proxy objective, maze-v1 has
CASES = [
    ("curves", None, True),  # lines with CI bands
    ("curves", None, False),  # no curve: final-score bars
    ("reachability", None, True),  # step lines, competence and match
    ("reachability", None, False),  # no budget: bars
    ("robustness", None, True),  # S / GMR / C bars on the maze shift
    ("robustness", "bandit-v1", True),  # no separating shift: base achievement bars
]


@pytest.mark.parametrize(("name", "family", "trained"), CASES)
def test_every_figure_renders(results_factory, name, family, trained):
    results = results_factory(matched=True)
    if not trained:
        results = _untrained(results)
    summary = entry_metrics(results, n_resamples=200)
    pixels = _image(figures.render(name, summary, family))
    assert pixels.std() > 5


def test_unknown_figure_or_family_is_an_error(results_factory):
    results = results_factory()
    summary = entry_metrics(results, n_resamples=200)
    with pytest.raises(ValueError, match="unknown figure"):
        figures.render("histogram", summary)
    with pytest.raises(ValueError, match="no family 'maze-v9'"):
        figures.render("curves", summary, "maze-v9")
