"""Gymnasium registration of the rl families: ``gymnasium.make_vec("mesa_bench/Bandit-v1")``.

Call ``register_envs()`` (``import benchmarks`` does), or name the module in the id:
``gymnasium.make_vec("benchmarks:mesa_bench/Bandit-v1", num_envs=64)``.
"""

import gymnasium as gym

ENVS = {
    "mesa_bench/Bandit-v1": (
        "benchmarks.bandit.env:make_single_env",
        "benchmarks.bandit.env:make_vector_env",
    ),
}


def register_envs() -> None:
    """Registers every rl family with Gymnasium; safe to call twice."""
    for env_id, (single, vector) in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=single, vector_entry_point=vector)
