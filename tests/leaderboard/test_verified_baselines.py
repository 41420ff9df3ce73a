"""Baselines on the board (issue 18 item 5): rl2 and memoryless on bandit and maze,
lstm-optimizer and icl-transformer, trained at tiny budgets, exported, submitted with their
programs by ``mesa-bench submit --programs`` to a real server, and each entry verified."""

from __future__ import annotations

import httpx
import pytest
from programs import require_sandbox, train_and_export, wait_until_done

from mesa_bench.cli import main

from servers import Server, add_submitter

# one entry per method: a method's runs on several families make one bundle
BASELINES = {
    "rl2": ("bandit", "maze"),
    "memoryless": ("bandit", "maze"),
    "lstm-optimizer": ("optimizee",),
    "icl-transformer": ("icl-regression",),
}


@pytest.mark.slow
def test_every_baseline_is_verified_on_a_real_server(tmp_path, capsys):
    require_sandbox()
    db = tmp_path / "board.sqlite"
    token_file = tmp_path / "token"
    token_file.write_text(add_submitter(db, "baselines"))
    server = Server(db).start()
    try:
        ids = []
        for name, tasks in BASELINES.items():
            trained = [train_and_export(tmp_path / name, name, task) for task in tasks]
            programs = trained[0][1].parent  # every run's program went to one folder
            args = ["submit", *(str(r) for r, _ in trained), "--programs", str(programs)]
            assert main([*args, "--server", server.url, "--token-file", str(token_file)]) == 0
            out = capsys.readouterr().out
            assert "state: queued" in out, out
            ids.append(int(out.split("entry: ")[1].split("/entries/")[1].strip()))
        wait_until_done(server, ids)
        listed = httpx.get(f"{server.url}/api/v1/entries?board=ad-hoc&state=verified").json()
    finally:
        server.stop()
    verified = {e["id"]: e for e in listed["entries"]}
    assert sorted(verified) == sorted(ids), [e["verification"] for e in listed["entries"]]
    assert [verified[i]["runs"] for i in ids] == [len(t) for t in BASELINES.values()]
    for entry in verified.values():
        v = entry["verification"]
        assert v["public_score_iqm"] == pytest.approx(entry["score_iqm"], abs=0.05), entry
