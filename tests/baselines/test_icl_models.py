"""icl-transformer and icl-lstm: token layout, causal predictions, the curriculum, training
that beats the zero predictor, tiny runs that write valid records, same seed same
numbers, and resuming a killed run."""

from __future__ import annotations

import pytest
import torch
from record_numbers import numbers

from baselines.icl_lstm import ICLLSTM, ICLLSTMConfig
from baselines.icl_transformer import (
    ICLPredictor,
    ICLTransformer,
    ICLTransformerConfig,
    curriculum_dims,
    curriculum_points,
    tokens,
)
from benchmarks.icl_regression.config import ICLRegressionConfig
from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import CHECKPOINT_FILE
from mesa_bench.protocol.entry import TrainContext
from mesa_bench.protocol.sequence import check_causal
from mesa_bench.registry import FAMILIES
from mesa_bench.results import read_results
from mesa_bench.running import jobs
from mesa_bench.seeding import torch_generator

ENTRIES = {
    "icl-transformer": (ICLTransformer, ICLTransformerConfig),
    "icl-lstm": (ICLLSTM, ICLLSTMConfig),
}
NAMES = list(ENTRIES)


def family(n_context: int = 10, dim: int = 5):
    config = ICLRegressionConfig(n_context=n_context, dim=dim, sparsity=min(3, dim))
    return FAMILIES.get("icl-regression")(config)


def tiny(name: str, **changes):
    base = dict(name=name, width=16, layers=1, heads=2, batch=16, save_every=3, log_every=1)
    if name == "icl-lstm":
        base.pop("heads")
    return ENTRIES[name][1](**{**base, **changes})


def entry(cfg):
    return ENTRIES[cfg.name][0](cfg.name, cfg)


def train(tmp_path, cfg, budget: int, seed: int = 0, hook=None, fam=None):
    fam = fam or family()
    evaluator = Evaluator(fam, seed, budget, n_eval=32, splits=["test"], match_trials=0)
    method = entry(cfg)
    trained = method.train(
        fam,
        evaluator,
        budget,
        seed,
        TrainContext(run_dir=tmp_path, log=hook or (lambda m, b: None)),
    )
    return evaluator.finish(trained.make_method, trained.spent, trained.parameter_count)


def test_tokens_interleave_x_then_y():
    xs = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    ys = torch.tensor([[5.0, 6.0]])
    expected = [[1, 2, 0], [0, 0, 5], [3, 4, 0], [0, 0, 6]]
    assert tokens(xs, ys).tolist() == [expected]


@pytest.mark.parametrize("name", NAMES)
def test_predictions_read_no_later_targets(name):
    torch.manual_seed(0)
    net = entry(tiny(name, width=32, layers=2)).make_net(5)
    method = ICLPredictor(name, net, torch.device("cpu"))
    check_causal(method, family().sample_batch(0, 16, "test"), torch_generator(1))


def test_transformer_refuses_prompts_longer_than_its_positions():
    net = entry(tiny("icl-transformer", max_points=8)).make_net(5)
    batch = family().sample_batch(0, 2, "test")  # 11 pairs
    with pytest.raises(ValueError, match="max_points=8"):
        net(batch.xs, batch.ys)


def test_curriculum_grows_the_prompt_then_stops():
    cfg = tiny("icl-transformer", curriculum_start=3, curriculum_step=2, curriculum_every=10)
    assert [curriculum_points(cfg, s, 11) for s in (0, 9, 10, 25, 1000)] == [3, 3, 5, 7, 11]
    assert curriculum_points(tiny("icl-transformer"), 0, 11) == 11


def test_dimension_curriculum_grows_the_inputs_then_stops():
    cfg = tiny("icl-transformer", curriculum_dims_start=2, curriculum_every=10)
    assert [curriculum_dims(cfg, s, 5) for s in (0, 9, 10, 29, 30, 1000)] == [
        2,
        2,
        3,
        4,
        None,
        None,
    ]
    assert curriculum_dims(tiny("icl-transformer"), 0, 5) is None


def test_dimension_curriculum_trains_on_zeroed_inputs(tmp_path):
    seen = []
    cfg = tiny("icl-transformer", curriculum_dims_start=2, curriculum_every=4)
    train(tmp_path / "a", cfg, 16 * 12, hook=lambda m, b: seen.append(m.get("train/dims")))
    assert [d for d in seen if d is not None] == [2.0] * 4 + [3.0] * 4 + [4.0] * 4
    too_many = tiny("icl-transformer", curriculum_dims_start=6)
    with pytest.raises(ValueError, match="curriculum_dims_start=6 is more than the 5 input"):
        train(tmp_path / "b", too_many, 64)


@pytest.mark.parametrize(
    "name, changes",
    [("icl-transformer", dict(layers=2, lr=3e-3)), ("icl-lstm", dict(lr=1e-2))],
)
def test_training_learns_to_use_the_context(name, changes, tmp_path):
    # 1-d regression, so a few seconds of training suffice: the trained model reads
    # y = w x off its context, well below the zero predictor's error (score 0); the
    # transformer needs two layers for it
    record = train(tmp_path, tiny(name, width=32, **changes), 16 * 250, fam=family(dim=1))
    assert record.curve[-1].score > 0.3


@pytest.mark.parametrize("name", NAMES)
def test_tiny_run_writes_a_valid_record(name, run_config):
    cfg = run_config(task="icl-regression", method=name, budget=64, n_eval=8)
    cfg.method = tiny(name)
    cfg.splits = ["test", "long-context"]
    result = jobs.run(cfg)
    record = read_results(result.results_path).runs[0]
    fam = FAMILIES.get("icl-regression")()
    assert record.family == fam.spec.id and record.budget == 64
    assert set(record.splits) == {"test", "long-context"}
    assert record.curve[-1].budget == 64 and record.parameter_count > 0
    assert (jobs.run_dir(cfg) / CHECKPOINT_FILE).exists()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_numbers(name, tmp_path):
    cfg = tiny(name, curriculum_start=4, curriculum_every=3)
    a = train(tmp_path / "a", cfg, 160, seed=3)
    b = train(tmp_path / "b", cfg, 160, seed=3)
    assert numbers(a) == numbers(b)


def test_a_killed_run_resumes_to_the_same_numbers(tmp_path):
    cfg = tiny("icl-transformer")
    whole = train(tmp_path / "whole", cfg, 160)

    def kill(metrics: dict, budget: int) -> None:
        if budget == 16 * 7:  # saved after step 6, killed after 7
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", cfg, 160, hook=kill)
    resumed = train(tmp_path / "cut", cfg, 160)
    assert numbers(resumed) == numbers(whole)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="multiple of heads"):
        tiny("icl-transformer", width=10, heads=4).check()
