"""``mesa-bench report``: table, metrics.json against its schema, and four PNG figures."""

import json

import numpy as np
import pytest
from PIL import Image

from benchmarks.bandit import Bandit
from mesa_bench.cli import main
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.trials import reference_factory
from mesa_bench.metrics.summary_schema import Report, report_json_schema
from mesa_bench.reporting.report import FIGURES
from mesa_bench.results import RunRecord, write_results

from builders import results, run, split

MAZE = ("bfs", "random")  # maze's score-1 reference and floor


def _trained_run(seed: int) -> RunRecord:
    """A made-up trained maze run: a rising curve and a goal-misgeneralizing shift."""
    rng = np.random.default_rng(seed)
    shifted = {"base": rng.random(20) < 0.3, "proxy:corner": rng.random(20) < 0.8}
    test = split([0.9] * 20, 1.0, 0.0, dict.fromkeys(shifted, [True] * 20), names=MAZE)
    shift = split([0.3] * 20, 1.0, 0.0, shifted, names=MAZE)
    return run(
        "maze-v1",
        seed,
        test,
        curve=[(10, 0.1), (100, 0.4 + 0.1 * seed), (1000, 0.85), (10_000, 0.9)],
        budget=10_000,
        ref=1.0,
        floor=0.0,
        references=MAZE,
        parameter_count=1000,
        **{"goal-anywhere": shift},
    )


@pytest.fixture(scope="module")
def results_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    paths = []
    for name in ("thompson", "ucb1"):
        for seed in (0, 1):
            ev = Evaluator(Bandit(), seed=seed, budget=0, n_eval=32, match_trials=32)
            record = ev.finish(reference_factory(ev.family, name))
            # the report rebuilds the bandit from this config to calibrate its matches
            config = {"task": {"name": "bandit"}, "seed": seed}
            bundle = results(record, method=f"reference/{name}", config=config)
            paths.append(write_results(bundle, root / f"{name}-{seed}.json"))
    trained = results(*[_trained_run(s) for s in range(3)], method="toy-trained")
    paths.append(write_results(trained, root / "trained.json"))
    return [str(p) for p in paths]


def test_report_writes_table_json_and_figures(results_paths, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *results_paths, "--out", str(out), "--resamples", "200"]) == 0
    printed = capsys.readouterr().out
    assert "reference/thompson" in printed and "toy-trained" in printed
    assert "metrics.json" in printed

    report = json.loads((out / "metrics.json").read_text())
    Report.model_validate(report)  # the schema, enforced (extra keys forbidden)
    assert set(report_json_schema()["properties"]) == set(report)
    methods = report["methods"]
    assert set(methods) == {"reference/thompson", "reference/ucb1", "toy-trained"}
    bandit = methods["reference/thompson"]["families"]["bandit-v1"]
    assert bandit["matched"]["counts"] == {"thompson": 2}
    assert bandit["score"]["value"] == pytest.approx(1.0)
    assert methods["reference/ucb1"]["families"]["bandit-v1"]["matched"]["counts"] == {"ucb1": 2}
    maze = methods["toy-trained"]["families"]["maze-v1"]
    assert maze["objective_robustness"]["goal-anywhere"]["seeds"] == 3
    assert maze["reachability"]["competence"]["p"] == 1.0

    for name in FIGURES:
        with Image.open(out / name) as img:
            assert img.format == "PNG"
            assert img.width >= 400 and img.height >= 300
            pixels = np.asarray(img.convert("L"), float)
            assert pixels.std() > 5  # something is drawn


def test_report_json_is_reproducible(results_paths, tmp_path):
    for sub in ("a", "b"):
        main(["report", *results_paths[:2], "--out", str(tmp_path / sub), "--resamples", "100"])
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["methods"] == b["methods"]


@pytest.mark.parametrize(
    "content, reason",
    [("{not json", "invalid results"), ('{"schema_version": "1.0"}', "invalid results at")],
)
def test_corrupt_results_exit_non_zero_with_one_line(tmp_path, capsys, content, reason):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["report", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and reason in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_missing_file_is_named(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 2
    assert "nope.json" in capsys.readouterr().err
