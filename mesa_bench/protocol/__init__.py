"""What every task family and method implements: the families' and methods' protocol, each
kind's trial loop (``rl``, ``sequence``, ``optimization``) and the registry entry of a
method (``entry``). Outside packages import these names from ``mesa_bench.api``."""
