"""``mesa-bench leaderboard ...`` and ``mesa-bench submit``: real results, clear errors."""

from __future__ import annotations

import httpx

from leaderboard.store import Store
from mesa_bench.cli import main
from mesa_bench.running import jobs

from builders import make_results
from servers import free_port


def test_add_submitter_prints_the_token_once(tmp_path, capsys):
    db = str(tmp_path / "board.sqlite")
    assert main(["leaderboard", "migrate", "--db", db]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "add-submitter", "carol", "--db", db]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("mbt_") and "shown only once" in err
    assert Store(db).authenticate(token) is not None
    assert main(["leaderboard", "add-submitter", "carol", "--db", db]) == 2
    assert "already exists" in capsys.readouterr().err


def test_submit_real_pipeline_results(live, run_config, tmp_path, capsys):
    """Two seeds of a reference on bandit, run by the real pipeline, bundled and submitted."""
    server, token = live
    for seed in (0, 1):
        jobs.run(run_config(task="bandit", method="reference/ucb1", n_eval=32, seed=seed))
    runs = tmp_path / "runs"
    args = ["submit", str(runs), "--server", server.url, "--token", token]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "stored as a new entry" in out and "reference/ucb1 v1 on none@0" in out
    entry_url = out.strip().splitlines()[-1].removeprefix("entry: ")
    api = entry_url.replace("/entries/", "/api/v1/entries/")
    entry = httpx.get(api).json()
    assert (entry["board"], entry["runs"], entry["seeds"]) == ("ad-hoc", 2, 2)
    # UCB1 scores between the floor (random) and Thompson sampling on bandit
    assert 0.0 < entry["score_iqm"] < 1.0
    assert main(args) == 0
    assert "already stored" in capsys.readouterr().out


def test_submit_errors_are_one_clear_line(live, tmp_path, capsys):
    server, token = live
    path = tmp_path / "results.json"
    path.write_text(make_results("cli-errors").model_dump_json())

    assert main(["submit", str(path), "--server", server.url, "--token", "mbt_nope"]) == 1
    err = capsys.readouterr().err
    assert "(401)" in err and "check --token" in err

    nowhere = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(path), "--server", nowhere, "--token", token]) == 1
    assert "cannot reach" in capsys.readouterr().err

    few = tmp_path / "few.json"
    few.write_text(make_results("cli-few", seeds=1).model_dump_json())
    assert main(["submit", str(few), "--server", server.url, "--token", token]) == 1
    err = capsys.readouterr().err
    assert "(422) at runs" in err and "needs at least 3" in err

    bad = tmp_path / "bad.json"
    bad.write_text('{"runs": []}')
    assert main(["submit", str(bad), "--server", server.url, "--token", token]) == 2
    assert "invalid results" in capsys.readouterr().err

    assert (
        main(["submit", str(tmp_path / "missing.json"), "--server", server.url, "--token", token])
        == 1
    )
    assert "no such file" in capsys.readouterr().err


def test_export_command(tmp_path, capsys):
    db = str(tmp_path / "board.sqlite")
    store = Store(db)
    from leaderboard.checks import check_submission

    who = store.authenticate(store.add_submitter("dave"))
    store.submit(check_submission(make_results("exported").model_dump_json()), who)
    store.close()
    out = tmp_path / "site" / "board.md"
    assert main(["leaderboard", "export", "--format", "md", "--out", str(out), "--db", db]) == 0
    assert str(out) in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| # | method |")
    assert lines[2].startswith("| 1 | exported |") and "0.720" in lines[2]
