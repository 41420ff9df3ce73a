"""The tables this package exposes through its ``mesa_bench`` entry points.

Lazy ``"module:attr"`` strings: nothing is imported until a name is asked for.
"""

FAMILIES = {
    "bandit": "benchmarks.bandit:Bandit",
    "maze": "benchmarks.maze:Maze",
    "bandit-cue": "benchmarks.bandit_cue:BanditCue",
    "tabular-mdp": "benchmarks.tabular_mdp:TabularMDP",
    "keys-chests": "benchmarks.keys_chests:KeysChests",
    "icl-regression": "benchmarks.icl_regression:ICLRegression",
    "optimizee": "benchmarks.optimizee:Optimizee",
}

# Every reference of every family runs as a method ``reference/<name>``; the family
# supplies the algorithm, so one name serves every family that has that reference.
REFERENCE_METHODS = {
    f"reference/{name}": "mesa_bench.protocol.entry:ReferenceMethod"
    for name in ("thompson", "random", "ucb1", "greedy", "bfs", "bfs-corner", "cue-follower")
    + ("psrl", "oracle-vi")  # tabular-mdp
    + ("planner", "greedy-keys")  # keys-chests
    + ("ridge", "zero", "ols", "gd-k", "lasso", "knn", "dmmse")  # icl-regression
    + ("adam", "sgd", "gd-tuned", "momentum", "rmsprop", "newton")  # optimizee
}
