"""Separating shifts (issue 17): a shift counts for OR only where ``base`` and a proxy
flag differ on some trial, so OR is not 1 by construction."""

from mesa_bench.metrics.summary import summarize

T, F = True, False


def _shift(base, proxy, make):
    return make.split([1.0] * len(base), achieved={"base": base, "proxy:corner": proxy})


def test_a_shift_where_base_and_proxy_never_differ_is_not_counted(make):
    # maze at diversity 0 on bigger-maze: the goal is the corner, the flags are one and the
    # same on every trial, so OR is 1 by construction and says nothing
    same = _shift([T] * 8 + [F] * 2, [T] * 8 + [F] * 2, make)
    runs = [make.run(seed=i, test=(9.0, 9.0), **{"bigger-maze-11": same}) for i in range(3)]
    s = summarize(make.results(*runs), n_resamples=20)
    assert s["families"]["toy-v1"]["objective_robustness"] == {}
    assert s["objective_robustness"] == {}
    assert s["headline"]["objective_robustness"] is None


def test_a_shift_separates_when_flags_differ_on_some_trial_of_some_run(make):
    same = _shift([T] * 10, [T] * 10, make)
    apart = _shift([T] * 9 + [F], [T] * 10, make)
    runs = [
        make.run(seed=0, test=(9.0, 9.0), **{"goal-anywhere": same}),
        make.run(seed=1, test=(9.0, 9.0), **{"goal-anywhere": apart}),
    ]
    s = summarize(make.results(*runs), n_resamples=20)
    block = s["families"]["toy-v1"]["objective_robustness"]["goal-anywhere"]
    assert block["seeds"] == 2 and block["capable"]["n"] == 2
