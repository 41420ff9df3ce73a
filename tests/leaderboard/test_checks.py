"""Entry checks: each bad submission is refused with the field it names."""

from __future__ import annotations

import json

import pytest

from leaderboard.checks import MAX_BODY_BYTES, EntryError, check_submission
from leaderboard.suites import SUITES


def _body(results) -> dict:
    return json.loads(results.model_dump_json())


def _refused(body: dict | str | bytes) -> EntryError:
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    with pytest.raises(EntryError) as info:
        check_submission(text)
    return info.value


def test_valid_submission_passes_and_hash_ignores_layout(results_factory):
    results = results_factory()
    checked = check_submission(results.model_dump_json())
    assert checked.rule is SUITES[("mesa-v1-quick", 1)]
    # the same content with other key order and whitespace is the same entry
    relaid = json.dumps(dict(reversed(list(_body(results).items()))), indent=3)
    assert check_submission(relaid).content_hash == checked.content_hash
    changed = results_factory(description="other")
    assert check_submission(changed.model_dump_json()).content_hash != checked.content_hash


def test_malformed_json_is_400():
    err = _refused(b'{"schema_version": "1.0", "runs": [')
    assert (err.status, err.field) == (400, "(body)")
    assert "not valid JSON" in err.message


def test_wrong_schema_version(results_factory):
    body = _body(results_factory())
    body["schema_version"] = "2.0"
    err = _refused(body)
    assert (err.status, err.field) == (422, "schema_version")
    assert "not supported" in err.message


def test_missing_field_is_named(results_factory):
    body = _body(results_factory())
    del body["runs"][1]["splits"]
    err = _refused(body)
    assert err.field == "runs.1.splits"
    assert "Field required" in err.message


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_scores_are_refused(results_factory, bad):
    body = _body(results_factory())
    body["runs"][2]["splits"]["test"]["performance"][5] = 12345.5
    text = json.dumps(body).replace("12345.5", bad)
    err = _refused(text)
    assert err.field == "runs.2.splits.test.performance.5"
    assert "finite" in err.message


def test_non_finite_config_is_refused(results_factory):
    body = _body(results_factory())
    body["config"] = {"lr": 12345.5}
    err = _refused(json.dumps(body).replace("12345.5", "NaN"))
    assert err.field.startswith("config")


def test_too_few_seeds(results_factory):
    err = _refused(_body(results_factory(seeds=2)))
    assert err.field == "runs"
    assert "2 seed(s)" in err.message and "at least 3" in err.message
    full = results_factory(suite=("mesa-v1", 1), seeds=3)
    assert "at least 10" in _refused(_body(full)).message


def test_unknown_suite_and_version(results_factory):
    err = _refused(_body(results_factory(suite=("mesa-v1-quik", 1))))
    assert err.field == "suite.id"
    assert "did you mean 'mesa-v1-quick'" in err.message
    err = _refused(_body(results_factory(suite=("mesa-v1", 7))))
    assert err.field == "suite.version"
    assert "no version 7" in err.message


def test_family_outside_suite(results_factory):
    err = _refused(_body(results_factory(families=("bandit-v1", "mystery-v1"))))
    assert err.field == "runs.3.family"
    assert "not in suite mesa-v1-quick@1" in err.message
    # ad-hoc runs may come from any family, with a single seed
    check_submission(
        results_factory(suite=("none", 0), families=("mystery-v1",), seeds=1).model_dump_json()
    )


def test_duplicate_run(results_factory):
    body = _body(results_factory())
    body["runs"][1]["seed"] = 0
    err = _refused(body)
    assert err.field == "runs.1.seed"
    assert "duplicate run" in err.message


def test_undefined_score_is_refused(results_factory):
    body = _body(results_factory())
    test = body["runs"][0]["splits"]["test"]
    test["references"]["random"] = list(test["references"]["thompson"])  # bandit floor = score-1
    err = _refused(body)
    assert err.field == "runs.0.splits.test.references"
    assert "undefined" in err.message


def test_oversize_body_is_413():
    err = _refused(b" " * (MAX_BODY_BYTES + 1))
    assert (err.status, err.field) == (413, "(body)")


def test_script_in_method_name_is_refused_by_the_schema(results_factory):
    body = _body(results_factory())
    body["method"]["name"] = "<script>alert(1)</script>"
    err = _refused(body)
    assert err.field == "method.name"


def test_decreasing_curve_and_mixed_references(results_factory):
    body = _body(results_factory())
    curve = body["runs"][0]["curve"]
    curve[1]["budget"], curve[2]["budget"] = curve[2]["budget"], curve[1]["budget"]
    assert _refused(body).field == "runs.0.curve.2.budget"
    body = _body(results_factory())
    body["runs"][1]["higher_is_better"] = False
    assert _refused(body).field == "runs.1.higher_is_better"
