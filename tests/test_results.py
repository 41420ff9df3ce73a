import json

import pytest
import torch

from mesa_bench.results import (
    BehaviorRecord,
    ResultsError,
    ResultsFile,
    describe_device,
    find_results,
    json_schema,
    parse_results,
    read_results,
    write_results,
)
from mesa_bench.running import jobs


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from mesa_bench.protocol.entry import MethodConfig
    from mesa_bench.registry import FAMILIES
    from mesa_bench.running.config import RunConfig
    from mesa_bench.tracking import TrackingConfig

    cfg = RunConfig(
        task=FAMILIES.get("bandit").config_class(name="bandit"),
        method=MethodConfig(name="reference/ucb1"),
        n_eval=16,
        out=str(tmp_path_factory.mktemp("runs")),
        tracking=TrackingConfig(mode="disabled"),
    )
    return jobs.run(cfg).results


def test_round_trip(results, tmp_path):
    path = write_results(results, tmp_path / "r.json")
    assert read_results(path) == results


def test_schema_is_exported_and_versioned():
    schema = json_schema()
    assert schema["$id"].endswith("results-1.2.json")
    assert "runs" in schema["properties"]


def test_provenance_names_the_device_and_files_of_schema_1_0_still_read(results, tmp_path):
    expected = "cpu" if not torch.cuda.is_available() else "cuda ("
    assert results.provenance.device.startswith(expected)  # the run's device=auto, resolved
    assert results.provenance.cpu_count >= 1
    assert describe_device("cpu") == "cpu"
    old = json.loads(results.model_dump_json())
    old["schema_version"] = "1.0"
    for key in ("device", "cpu_count"):
        del old["provenance"][key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    assert read_results(path).provenance.device is None


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ResultsError, match="nope.json: cannot read"):
        read_results(tmp_path / "nope.json")


def test_corrupt_json_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema_version": "1.0", "runs": [')
    with pytest.raises(ResultsError, match="bad.json: invalid results"):
        read_results(path)


def mutate(results, fn):
    data = json.loads(results.model_dump_json())
    fn(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["runs"][0]["splits"]["test"]["performance"].pop(), "runs.0.splits.test"),
        (lambda d: d["runs"][0].update(family="Bandit"), "runs.0.family"),
        (lambda d: d.update(schema_version="9.0"), "schema_version"),
        (lambda d: d["runs"][0]["splits"].pop("test"), "runs.0"),
        (lambda d: d["runs"][0]["splits"]["test"]["references"].pop("random"), "runs.0"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["method"].update(name="<script>"), "method.name"),
        (lambda d: d.update(runs=[]), "runs"),
    ],
)
def test_bad_results_are_refused_naming_the_field(results, change, where):
    with pytest.raises(ResultsError, match=f"invalid results at {where}"):
        parse_results(mutate(results, change))


def test_non_finite_numbers_are_refused(results):
    def poison(d):
        d["runs"][0]["splits"]["test"]["performance"][0] = float("nan")

    with pytest.raises(ResultsError, match="runs.0.splits.test.performance.0"):
        parse_results(mutate(results, poison))


def test_write_is_atomic_and_leaves_no_temp_files(results, tmp_path):
    write_results(results, tmp_path / "r.json")
    write_results(results, tmp_path / "r.json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert ResultsFile.model_validate_json((tmp_path / "r.json").read_text())


def test_find_results_searches_folders_and_names_an_empty_one(tmp_path):
    (tmp_path / "a" / "seed1").mkdir(parents=True)
    (tmp_path / "a" / "seed0" / "evaluations" / "n20").mkdir(parents=True)
    for seed in ("seed0", "seed1"):
        (tmp_path / "a" / seed / "results.json").write_text("{}")
    again = tmp_path / "a" / "seed0" / "evaluations" / "n20" / "results.json"
    again.write_text("{}")  # a re-evaluation of seed 0: not a second seed-0 run
    given = tmp_path / "other.json"
    found = find_results([str(tmp_path / "a"), str(given)])
    assert found == [
        tmp_path / "a" / "seed0" / "results.json",
        tmp_path / "a" / "seed1" / "results.json",
        given,
    ]
    assert find_results([str(again)]) == [again]  # named, it is taken
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="no results.json under"):
        find_results([str(tmp_path / "empty")])


def test_behaviour_per_trial_likelihoods_have_one_entry_per_trial():
    import builders

    rec = builders.behavior({"base": -10.0, "proxy:corner": -20.0}, n_trials=5)
    data = rec.model_dump()
    data["uniform"] = data["uniform"][:4]
    with pytest.raises(ValueError, match="uniform has 4 entries, n_trials is 5"):
        BehaviorRecord.model_validate(data)
    data = rec.model_dump()
    data["objective"] = None  # undetermined (schema 1.2)
    data["fits"]["base"]["beta"] = 0.0  # uniform fits best
    assert BehaviorRecord.model_validate(data).objective is None
