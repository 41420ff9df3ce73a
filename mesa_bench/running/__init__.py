"""Running jobs and suites: structured configs, one run (``jobs``), the Hydra app, suites
and their runner, the run-folder rule (``layout``) and the demo."""
