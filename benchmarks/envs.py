"""Gymnasium registration of the rl families: ``gymnasium.make_vec("mesa_bench/Bandit-v1")``.

Call ``register_envs()`` (``import benchmarks`` does), or name the module in the id:
``gymnasium.make_vec("benchmarks:mesa_bench/Bandit-v1", num_envs=64)``.
"""

import gymnasium as gym

# Ids follow the family: "tabular-mdp" version 1 is "mesa_bench/TabularMdp-v1" (see gym_id).
ENVS = {
    "mesa_bench/Bandit-v1": (
        "benchmarks.bandit.env:make_single_env",
        "benchmarks.bandit.env:make_vector_env",
    ),
    "mesa_bench/Maze-v1": (
        "benchmarks.maze.env:make_single_env",
        "benchmarks.maze.env:make_vector_env",
    ),
    "mesa_bench/BanditCue-v1": (
        "benchmarks.bandit_cue.env:make_single_env",
        "benchmarks.bandit_cue.env:make_vector_env",
    ),
    "mesa_bench/TabularMdp-v1": (
        "benchmarks.tabular_mdp.env:make_single_env",
        "benchmarks.tabular_mdp.env:make_vector_env",
    ),
    "mesa_bench/KeysChests-v1": (
        "benchmarks.keys_chests.env:make_single_env",
        "benchmarks.keys_chests.env:make_vector_env",
    ),
}


def gym_id(name: str, version: int) -> str:
    """Returns the Gymnasium id of family ``name`` at ``version``."""
    return "mesa_bench/" + "".join(p.capitalize() for p in name.split("-")) + f"-v{version}"


def register_envs() -> None:
    """Registers every rl family with Gymnasium; safe to call twice."""
    for env_id, (single, vector) in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=single, vector_entry_point=vector)
