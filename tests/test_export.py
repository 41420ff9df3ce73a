"""``mesa-bench export``: every trainable baseline's final model as a ``torch.export``
program that gives what the live model gives; the loader refuses what is not such a program."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from baselines import exporting
from mesa_bench.cli import main
from mesa_bench.protocol.core import TrialObs
from mesa_bench.protocol.entry import MethodEntry, TrainContext, Trained
from mesa_bench.protocol.optimization import OptState
from mesa_bench.protocol.programs import (
    MANIFEST_FILE,
    Manifest,
    Program,
    ProgramError,
    TensorSpec,
    check_protocol,
    export_program,
    load_program,
    sha256_file,
)
from mesa_bench.protocol.rl import initial_trial_obs
from mesa_bench.protocol.sequence import SequenceBatch
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.running import jobs
from mesa_bench.running.export import export_run
from mesa_bench.seeding import torch_generator

TRAINABLE = [name for name in METHODS.names() if METHODS.get(name).default_budget > 0]

# config changes and a budget that make a run of a few seconds (tests/baselines/
# test_load_trained.py trains the same tiny runs)
PPO_TINY = dict(num_envs=8, rollout_steps=16, hidden=16, save_every=2)
ICL_TINY = dict(width=16, layers=1, batch=16, save_every=3, log_every=1)
L2L_TINY = dict(batch=16, save_every=2, log_every=1)
TINY: dict[str, tuple[dict, int]] = {
    "rl2": (PPO_TINY, 256),
    "memoryless": (PPO_TINY, 256),
    "lstm-optimizer": (L2L_TINY, 3200),
    "l2l-learnable-optimizer": (L2L_TINY, 3200),
    "maml": (L2L_TINY, 32),
    "meta-sgd": ({**L2L_TINY, "hidden": 8, "bias": True, "inner_steps": 2}, 32),
    "icl-transformer": ({**ICL_TINY, "heads": 2, "max_points": 64}, 32),
    "icl-lstm": ({**ICL_TINY, "layers": 2}, 32),
    "dpt": ({**ICL_TINY, "heads": 2}, 32),
    "ad": ({**ICL_TINY, "heads": 2}, 32),
}


def first_family(name: str) -> str:
    """Returns the first registered family that method ``name`` applies to."""
    entry = METHODS.get(name)(name)
    return next(f for f in FAMILIES.names() if entry.applies_to(FAMILIES.get(f)()))


# trainable methods whose entry has no exportable yet
NOT_EXPORTED: set[str] = set()

# every exported method on its first family; the rl ones on a grid family too
CASES = [(name, first_family(name)) for name in TINY] + [
    ("rl2", "maze"),
    ("memoryless", "maze"),
]


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Restores torch's thread count after a trainer has set it from its config."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def train_tiny(run_config, name: str, task: str):
    """Trains ``name`` on ``task`` for a few seconds; returns the config and run folder."""
    overrides, budget = TINY[name]
    cfg = run_config(task=task, method=name, budget=budget, n_eval=4, splits=["test"])
    cfg.method = METHODS.get(name).config_class(name=name, **overrides)
    jobs.run(cfg)
    return cfg, jobs.run_dir(cfg)


def live_method(cfg, run_dir):
    """Returns the family and the run's final model as a method (what evaluation runs)."""
    family = FAMILIES.get(cfg.task.name)(cfg.task)
    entry = METHODS.get(cfg.method.name)(cfg.method.name, cfg.method)
    trained = entry.load_trained(family, TrainContext(run_dir=run_dir, device="cpu"))
    return family, trained.make_method(np.random.default_rng(0))


def test_every_trainable_method_is_exported_here():
    assert set(TRAINABLE) == set(TINY) | NOT_EXPORTED, f"add tiny settings for {TRAINABLE}"


@pytest.mark.parametrize(("name", "task"), CASES)
def test_the_program_gives_what_the_live_model_gives(name, task, run_config, capsys):
    cfg, run = train_tiny(run_config, name, task)
    assert main(["export", str(run)]) == 0
    assert "wrote" in capsys.readouterr().out

    stem = f"{name}--{FAMILIES.get(task).spec.id}--seed{cfg.seed}"
    beside = Manifest.from_json((run / "export" / f"{stem}.json").read_text())
    program = load_program(run / "export" / f"{stem}.pt2", expected=beside)
    assert program.manifest == beside
    assert (beside.method, beside.family, beside.seed) == (name, FAMILIES.get(task).spec.id, 0)
    assert beside.results_sha256 == sha256_file(run / "results.json")
    assert beside.inputs[0].shape[0] == "batch"

    family, method = live_method(cfg, run)
    if family.spec.kind == "rl":
        for split in rl_splits(family, program):
            same_actions(family, method, program, split)
    elif family.spec.kind == "sequence":
        same_predictions(family, method, program)
    else:
        same_updates(family, method, program)


def rl_splits(family, program) -> list[str]:
    """Returns ``test``, and the family's last shift (maze: the largest grid) where the
    program's grid varies."""
    if "rows" not in program.manifest.inputs[0].shape:
        return ["test"]
    return ["test", family.spec.splits[-1]]  # maze: bigger-maze-15


def same_actions(family, agent, program, split: str) -> None:
    """Several steps of 3 trials, carrying the state; trial 1 starts again at step 3."""
    n = 3
    env = family.make_env(family.sample_tasks(7, n, split), split)
    obs, _ = env.reset(seed=7)
    x = initial_trial_obs(obs)
    agent.reset(n)
    state = program.initial_state(n)
    for t in range(6):
        if t == 3:
            x.trial_start[1], x.prev_action[1], x.prev_reward[1], x.done[1] = True, 0, 0.0, 0.0
        want = agent.action_probs(x)
        tensors = (x.obs, x.prev_action, x.prev_reward, x.done, x.trial_start)
        logits, state = program(*(torch.as_tensor(v) for v in tensors), state)
        # log-probabilities: a near-uniform tiny policy's probabilities hide logit errors
        got = torch.log_softmax(logits.double(), dim=-1).numpy()
        np.testing.assert_allclose(got, np.log(want), atol=1e-5)
        action = want.argmax(-1)
        obs, reward, term, trunc, _ = env.step(action)
        x = TrialObs(
            obs,
            action.astype(np.int64),
            reward.astype(np.float32),
            (term | trunc).astype(np.float32),
            np.zeros(n, bool),
        )
    if program.manifest.inputs[-1].shape[1]:  # rl2: the state carries the trial so far
        assert state.abs().sum() > 0
    env.close()


def same_predictions(family, predictor, program) -> None:
    """Other batch sizes and prompt lengths than the program was exported with, down to 1."""
    batch = family.sample_batch(7, 5, "test")
    for rows, points in ((5, batch.ys.shape[1]), (5, 3), (1, 2)):
        part = SequenceBatch(batch.xs[:rows, :points], batch.ys[:rows, :points])
        predictor.reset(len(part))
        want = predictor.predict(part)
        (got,) = program(part.xs, part.ys)
        assert got.shape == (rows, points)
        torch.testing.assert_close(got, want.to(got), atol=1e-5, rtol=1e-4)


def same_updates(family, method, program) -> None:
    """Five inner steps of 3 problems, carrying the state, along the live method's path."""
    problem = family.make_problem(family.sample_tasks(7, 3, "test"), "test")
    params = problem.init(torch_generator(7))
    method.reset(3)
    state = program.initial_state(3, params.shape[1])
    for t in range(5):
        loss, grad = problem.loss_and_grad(params)
        with torch.no_grad():
            want = method.step(OptState(params, grad, loss, t, 5, lambda: None))
        got, state = program(params, grad, state)
        torch.testing.assert_close(got.double(), want.double(), atol=1e-6, rtol=1e-5)
        params = params + want.to(params)


@pytest.mark.parametrize("encoder", ["egocentric", "conv"])
def test_a_policy_program_reads_larger_grids_as_the_live_encoder_does(encoder):
    from baselines import ppo

    family = FAMILIES.get("maze")()
    cfg = METHODS.get("rl2").config_class(name="rl2", hidden=8, conv_channels=2, encoder=encoder)
    entry = METHODS.get("rl2")("rl2", cfg)
    net = entry.make_net(ppo.family_shape(family))
    with torch.no_grad():  # weights that make the logits far from 0 (the policy head's are not)
        for p in net.parameters():
            p.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(p.numel()))
    trained = Trained(ppo.agent_factory("rl2", net, torch.device("cpu")), spent=0)
    item = entry.exportable(family, trained)
    exported, manifest = export_program(item, "rl")
    assert manifest.inputs[0].shape == ("batch", 3, "rows", "cols")
    program = Program(manifest, exported)
    env = family.make_env(family.sample_tasks(7, 2, "bigger-maze-15"), "bigger-maze-15")
    x = initial_trial_obs(env.reset(seed=7)[0])
    tensors = [torch.as_tensor(v) for v in (x.obs, x.prev_action, x.prev_reward, x.done)]
    logits, _ = program(*tensors, torch.as_tensor(x.trial_start), program.initial_state(2))
    agent = trained.make_method(np.random.default_rng(0))  # the live net, its own encoder
    agent.reset(2)
    got = torch.softmax(logits.double(), dim=-1).numpy()
    np.testing.assert_allclose(got, agent.action_probs(x), atol=1e-6)
    env.close()


# --- refusals ---


def test_a_planner_policy_is_refused_with_the_reason():
    from baselines import ppo

    family = FAMILIES.get("maze")()
    cfg = METHODS.get("rl2").config_class(name="rl2", hidden=8, encoder="planner")
    entry = METHODS.get("rl2")("rl2", cfg)
    net = entry.make_net(ppo.family_shape(family))
    trained = Trained(ppo.agent_factory("rl2", net, torch.device("cpu")), spent=0)
    with pytest.raises(ValueError, match="method.encoder=planner cannot be exported"):
        entry.exportable(family, trained)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Returns the program and manifest paths of a tiny lstm-optimizer run."""
    from mesa_bench.running.config import RunConfig
    from mesa_bench.tracking import TrackingConfig

    out = tmp_path_factory.mktemp("runs")
    overrides, budget = TINY["lstm-optimizer"]
    cfg = RunConfig(
        task=FAMILIES.get("optimizee").config_class(name="optimizee"),
        method=METHODS.get("lstm-optimizer").config_class(name="lstm-optimizer", **overrides),
        out=str(out),
        budget=budget,
        n_eval=4,
        splits=["test"],
        tracking=TrackingConfig(mode="disabled"),
    )
    threads = torch.get_num_threads()
    jobs.run(cfg)
    torch.set_num_threads(threads)
    return export_run(jobs.run_dir(cfg))


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_a_run_without_a_checkpoint_is_refused(exported, tmp_path, capsys):
    run = exported.program.parent.parent
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "results.json").write_bytes((run / "results.json").read_bytes())
    assert "holds no checkpoint.pt" in one_line_error(["export", str(copy)], capsys)
    assert not (copy / "export").exists()


def test_a_reference_run_is_refused(run_config, capsys):
    cfg = run_config(task="bandit", method="reference/thompson", n_eval=4, splits=["test"])
    run = jobs.run_dir(cfg)
    jobs.run(cfg)
    err = one_line_error(["export", str(run)], capsys)
    assert "reference/thompson, a hand-written reference" in err


def test_a_method_without_an_exporter_says_so():
    class Untrained(MethodEntry):
        def train(self, family, evaluator, budget, seed, ctx):
            raise AssertionError("not called")

    with pytest.raises(ValueError, match="method 'mine' cannot export its trained model"):
        Untrained("mine").exportable(FAMILIES.get("bandit")(), trained=None)


def test_a_decision_transformer_longer_than_its_cache_gives_nan():
    family = FAMILIES.get("bandit")()
    net, _ = METHODS.get("dpt")("dpt", METHODS.get("dpt").config_class(width=8, heads=2)).make_net(
        family
    )
    step = exporting.DecisionTransformerStep(net.eval(), obs_size=1, slots=2)
    state = torch.zeros(1, step.state_size())
    zero, one = torch.zeros(1), torch.ones(1)
    for t, start in enumerate([True, False, False, True]):
        args = (zero[:, None], one.long(), one, zero, torch.tensor([start]), state)
        logits, state = step(*args)
        assert torch.isnan(logits).all() == (t == 2), t  # the third token has no slot


def test_a_folder_without_results_is_refused(tmp_path, capsys):
    assert "no finished run" in one_line_error(["export", str(tmp_path)], capsys)


def rewrite(src, dst, change) -> None:
    """Copies the zip archive ``src`` to ``dst``, passing each (name, bytes) through
    ``change``, which returns the new bytes (None drops the entry)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for item in old.infolist():
            data = change(item.filename, old.read(item))
            if data is not None:
                new.writestr(item, data)


def test_a_pickle_is_not_loaded(tmp_path):
    path = tmp_path / "evil.pt2"
    torch.save({"weights": torch.zeros(3)}, path)  # a zip archive too, holding data.pkl
    with pytest.raises(ProgramError, match="must hold one program"):
        load_program(path)
    path.write_bytes(b"\x80\x04K\x01.")  # a bare pickle
    with pytest.raises(ProgramError, match="not a torch.export archive"):
        load_program(path)


def test_pickled_payloads_in_a_program_archive_are_refused(exported, tmp_path):
    path = tmp_path / "pickled.pt2"

    def sample_inputs(name, data):
        return b"\x80\x04K\x01." if name.endswith("sample_inputs/model.pt") else data

    rewrite(exported.program, path, sample_inputs)
    with pytest.raises(ProgramError, match="pickled sample inputs"):
        load_program(path)

    def pickled_weight(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        return data

    rewrite(exported.program, path, pickled_weight)
    with pytest.raises(ProgramError, match="pickled tensors"):
        load_program(path)

    # torch.export.load still reads the constants of an older format with pickle
    rewrite(exported.program, path, lambda name, data: data)
    with zipfile.ZipFile(path, "a") as archive:
        root = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{root}/data/constants/model.pt", b"\x80\x04K\x01.")
    with pytest.raises(ProgramError, match=r"holds a pickle \(.*data/constants/model.pt\)"):
        load_program(path)


def test_a_manifest_that_does_not_describe_the_program_is_refused(exported, tmp_path):
    manifest = Manifest.from_json(exported.manifest.read_text())
    state = TensorSpec("state", ("batch", "params", 81), "float32")  # the program's has 80
    lied = dataclasses.replace(
        manifest,
        inputs=(*manifest.inputs[:2], state),
        outputs=(manifest.outputs[0], state),
    )
    path = tmp_path / "lied.pt2"

    def swap(name, data):
        return lied.to_json().encode() if name.endswith(f"extra/{MANIFEST_FILE}") else data

    rewrite(exported.program, path, swap)
    with pytest.raises(ProgramError, match=r"inputs are \(.*state\[batch, params, 80\] float32\)"):
        load_program(path)


def test_a_program_other_than_the_expected_one_is_refused(exported):
    manifest = Manifest.from_json(exported.manifest.read_text())
    with pytest.raises(ProgramError, match="method 'lstm-optimizer', expected 'x'"):
        load_program(exported.program, expected=dataclasses.replace(manifest, method="x"))
    with pytest.raises(ProgramError, match="kind 'optimization', expected 'rl'"):
        load_program(exported.program, expected=dataclasses.replace(manifest, kind="rl"))


def test_a_program_runs_without_the_method_s_code(exported):
    # what the leaderboard's worker does: load and run, with baselines never imported
    script = (
        "import sys, torch\n"
        "from mesa_bench.protocol.programs import load_program\n"
        f"program = load_program({str(exported.program)!r})\n"
        "x = torch.ones(3, 10, dtype=torch.float64)\n"
        "update, _ = program(x, x, program.initial_state(3, 10))\n"
        "assert update.shape == (3, 10) and bool(torch.isfinite(update).all())\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('baselines', 'learn2learn')]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_program_checks_its_inputs(exported):
    program = load_program(exported.program)
    one = torch.ones(1, 1, dtype=torch.float64)  # batch and params of 1 are sizes too
    update, state = program(one, one, program.initial_state(1, 1))
    assert update.shape == (1, 1) and state.shape == (1, 1, 80)
    params = torch.zeros(2, 10, dtype=torch.float64)
    with pytest.raises(Exception, match="shape"):  # torch names the axis
        program(params, params, torch.zeros(2, 10, 5))


def spec(text: str) -> TensorSpec:
    """Returns the spec written ``name:axis,axis:dtype`` (digits are fixed sizes)."""
    name, shape, dtype = text.split(":")
    return TensorSpec(name, tuple(int(a) if a.isdigit() else a for a in shape.split(",")), dtype)


SEQUENCE_OUT = [spec("predictions:batch,points:float32")]
OPT_IN = [spec("params:batch,params:float64"), spec("grads:batch,params:float64")]


@pytest.mark.parametrize(
    ("kind", "inputs", "outputs", "message"),
    [
        (
            "sequence",
            [spec("xs:batch,points,5:float32"), spec("ys:batch:float32")],
            SEQUENCE_OUT,
            r"input ys\[batch\] float32 does not fit the protocol: shape \[batch points\]",
        ),
        (
            "sequence",
            [spec("x:batch,points,5:float32"), spec("ys:batch,points:float32")],
            SEQUENCE_OUT,
            r"sequence programs take inputs \(xs, ys\), this one \(x, ys\)",
        ),
        (
            "optimization",
            [spec("params:batch,params:float32"), OPT_IN[1], spec("state:batch,0:float32")],
            [spec("update:batch,params:float32"), spec("state:batch,0:float32")],
            r"input params\[batch, params\] float32 does not fit the protocol: .*dtype float64",
        ),
        (
            "optimization",
            [*OPT_IN, spec("state:batch,4:float32")],
            [spec("update:batch,params:float32"), spec("state:batch,3:float32")],
            r"the state goes in as state\[batch, 4\] float32 but comes out as state\[batch, 3\]",
        ),
        (
            "rl",
            [spec("obs:batch,3:float32")],
            [],
            r"rl programs take inputs \(obs, prev_action, prev_reward, done, trial_start, state\)",
        ),
    ],
)
def test_a_signature_outside_the_protocol_is_refused(kind, inputs, outputs, message):
    with pytest.raises(ProgramError, match=message):
        check_protocol(kind, inputs, outputs)
