"""A third-party method package for mesa-bench (see docs/adding-a-method.md).

``METHODS`` is what the ``mesa_bench.methods`` entry point names: registry name ->
lazy ``"module:Class"``, so listing methods does not import torch.
"""

METHODS = {"learned-schedule": "mesa_example.schedule:LearnedSchedule"}
