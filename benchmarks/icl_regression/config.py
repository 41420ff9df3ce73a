"""Structured config of the icl-regression family (torch-free, so listing tasks stays fast)."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig

FUNCTION_CLASSES = ("linear", "sparse-linear", "relu-net")
REFERENCE_NAMES = ("ridge", "zero", "ols", "gd-k", "lasso", "knn")
POOL_REFERENCE = "dmmse"  # offered only where train prompts draw from a finite pool
# diversity < 1 trains on a finite pool of 2 ** (POOL_BITS * diversity) tasks
POOL_BITS = 14


@dataclass
class ICLRegressionConfig(FamilyConfig):
    """In-context regression prompts (Garg et al. 2022).

    Attributes:
        diversity: 1 (default) draws a fresh function for every prompt; below 1, train and
            test prompts use one of ``round(2 ** (14 * diversity))`` functions drawn once
            from ``pool_seed`` (Raventos et al. 2023: few distinct tasks invite
            memorization, many invite a learned regression algorithm); 0 is one function.
        dim: input dimension d.
        n_context: most examples in context; a prompt has ``n_context + 1`` pairs.
        noise: standard deviation sigma of the target noise.
        function_class: ``linear``, ``sparse-linear`` or ``relu-net``: the train class.
        sparsity: non-zero weights of ``sparse-linear``.
        hidden: hidden units of ``relu-net``.
        x_scale: input scale of the ``x-scale`` shift.
        shift_noise: sigma of the ``noisy`` shift.
        long_context: examples in context on the ``long-context`` shift.
        other_class: function class of the ``other-class`` shift; empty (default) picks
            ``sparse-linear`` for linear training and ``linear`` otherwise. ``relu-net``
            is allowed, but there ridge (lambda = sigma^2) does worse than predicting zero,
            so normalized scores on that split are meaningless (README.md).
        gd_steps: k of the ``gd-k`` reference (k steps of gradient descent from zero).
        knn_neighbours: neighbours averaged by the ``knn`` reference.
        pool_seed: seed of the task pool used when diversity < 1 or ``n_tasks`` > 0.
        n_tasks: M, the number of distinct functions the *train* prompts draw from, drawn
            once from ``pool_seed`` and the train prior; 0 (default) draws a fresh function
            for every prompt. Unlike ``diversity``, test and shifted prompts keep fresh
            functions from the prior (Raventos et al. 2023 score against the true prior).
            A finite pool adds the ``dmmse`` reference (Bayes optimal under a uniform prior
            over the pool).
    """

    diversity: float = 1.0
    dim: int = 5
    n_context: int = 40
    noise: float = 0.1
    function_class: str = "linear"
    sparsity: int = 3
    hidden: int = 16
    x_scale: float = 3.0
    shift_noise: float = 1.0
    long_context: int = 80
    other_class: str = ""
    gd_steps: int = 1
    knn_neighbours: int = 3
    pool_seed: int = 0
    n_tasks: int = 0

    def check(self) -> None:
        """Raises ValueError naming the first bad field."""
        allowed = {"function_class": FUNCTION_CLASSES, "other_class": ("", *FUNCTION_CLASSES)}
        for field, names in allowed.items():
            if getattr(self, field) not in names:
                raise ValueError(
                    f"{field} must be one of {', '.join(FUNCTION_CLASSES)}; "
                    f"got {getattr(self, field)!r}"
                )
        positive = ("dim", "n_context", "hidden", "long_context", "gd_steps", "knn_neighbours")
        for field in positive:
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if not 1 <= self.sparsity <= self.dim:
            raise ValueError(f"sparsity must lie in [1, dim={self.dim}], got {self.sparsity}")
        if self.noise < 0 or self.shift_noise < 0 or self.x_scale <= 0:
            raise ValueError("noise and shift_noise must be >= 0 and x_scale > 0")
        if self.n_tasks < 0:
            raise ValueError(f"n_tasks must be >= 0 (0: unlimited), got {self.n_tasks}")
        if self.n_tasks and self.diversity < 1:
            raise ValueError(
                f"set n_tasks (train pool) or diversity < 1 (train and test pool), not both; "
                f"got n_tasks={self.n_tasks}, diversity={self.diversity}"
            )

    def train_pool_size(self) -> int | None:
        """Returns the number of distinct train functions (None: a fresh one per prompt)."""
        return self.n_tasks or pool_size(self.diversity)

    def references(self) -> tuple[str, ...]:
        """Returns the reference names: ``dmmse`` joins them where the train pool is finite."""
        if self.train_pool_size() is None:
            return REFERENCE_NAMES
        return (*REFERENCE_NAMES, POOL_REFERENCE)


def shift_class(config: ICLRegressionConfig) -> str:
    """Returns the function class of the ``other-class`` shift."""
    if config.other_class:
        return config.other_class
    return "sparse-linear" if config.function_class == "linear" else "linear"


def pool_size(diversity: float) -> int | None:
    """Returns the number of distinct train tasks at ``diversity`` (None: unlimited)."""
    if diversity >= 1.0:
        return None
    return max(1, round(2 ** (POOL_BITS * diversity)))
