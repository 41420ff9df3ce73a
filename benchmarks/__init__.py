"""The task families of mesa-bench and its versioned suites."""

from benchmarks.envs import register_envs

register_envs()
