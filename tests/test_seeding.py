import numpy as np

from mesa_bench import seeding
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED


def draws(seq, n=5):
    return seeding.generator(seq).random(n)


def test_same_seed_same_stream():
    assert np.array_equal(draws(seeding.stream(3, "a")), draws(seeding.stream(3, "a")))


def test_named_streams_differ():
    assert not np.array_equal(draws(seeding.stream(3, "a")), draws(seeding.stream(3, "b")))


def test_train_tasks_follow_run_seed_eval_tasks_do_not():
    train0 = draws(seeding.task_stream(0, 99, "train"))
    train1 = draws(seeding.task_stream(1, 99, "train"))
    test0 = draws(seeding.task_stream(0, 99, "test"))
    test1 = draws(seeding.task_stream(1, 99, "test"))
    assert not np.array_equal(train0, train1)
    assert np.array_equal(test0, test1)  # every method is scored on the same public trials
    assert not np.array_equal(train0, test0)


def test_each_split_draws_its_own_numbers_and_the_public_test_trials_are_pinned():
    splits = ("train", "test", "long-horizon", "goal-anywhere")
    states = {
        s: seeding.task_stream(0, DEFAULT_EVAL_SEED, s).generate_state(2).tolist() for s in splits
    }
    assert len({tuple(v) for v in states.values()}) == len(splits)
    # every published score was measured on these trials; a change must be deliberate
    assert states["test"] == [291454051, 1302119653]


def test_int_seed_is_stable_and_nonnegative():
    a = seeding.int_seed(seeding.stream(5, "env"))
    assert a == seeding.int_seed(seeding.stream(5, "env"))
    assert 0 <= a < 2**63
