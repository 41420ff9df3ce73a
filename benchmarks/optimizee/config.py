"""Structured config of the optimizee family (torch-free, so listing tasks stays fast)."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig

PROBLEMS = ("quadratic", "mlp")
REFERENCE_NAMES = ("adam", "sgd", "gd-tuned", "momentum", "rmsprop", "newton")
TUNED = ("adam", "gd-tuned", "momentum", "rmsprop")  # step size tuned on train
# diversity < 1 trains on a finite pool of 2 ** (POOL_BITS * diversity) problems
POOL_BITS = 14


@dataclass
class OptimizeeConfig(FamilyConfig):
    """Inner optimization problems for learned optimizers (Andrychowicz et al. 2016).

    Attributes:
        diversity: 1 (default) draws a fresh problem for every trial; below 1, train and
            test trials use one of ``round(2 ** (14 * diversity))`` problems drawn once
            from ``pool_seed``; 0 is a single problem.
        problem: the train problem family, ``quadratic`` or ``mlp``; ``other-family`` uses
            the other one.
        dim: quadratic dimension (``W`` is dim x dim), and the MLP's hidden width.
        bigger_dim: ``dim`` on the ``bigger`` shift.
        horizon: inner steps T per trial.
        long_horizon: T on the ``long-horizon`` shift.
        init_scale: standard deviation of the quadratic's initial point.
        mlp_inputs: input dimension of the MLP's 2-class data.
        mlp_points: data points per MLP problem (full-batch loss).
        teacher_hidden: hidden ReLUs of the random network that labels the MLP data.
        sgd_step: step of the ``sgd`` floor (a common default, not tuned).
        newton_floor: Newton divides by ``max(|eigenvalue|, newton_floor)`` of the Hessian;
            the default keeps it exact on quadratics; MLP problems need about 1e-2 (with
            1e-3 or less it diverges on them; measured, see README.md).
        pool_seed: seed of the problem pool used when diversity < 1.
    """

    diversity: float = 1.0
    problem: str = "quadratic"
    dim: int = 10
    bigger_dim: int = 50
    horizon: int = 100
    long_horizon: int = 1000
    init_scale: float = 0.01
    mlp_inputs: int = 2
    mlp_points: int = 64
    teacher_hidden: int = 4
    sgd_step: float = 0.01
    newton_floor: float = 1e-10
    pool_seed: int = 0

    def check(self) -> None:
        """Raises ValueError naming the first bad field."""
        if self.problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}; got {self.problem!r}")
        for field in ("dim", "bigger_dim", "horizon", "long_horizon", "mlp_inputs", "mlp_points"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.teacher_hidden < 1 or self.sgd_step <= 0 or self.newton_floor <= 0:
            raise ValueError("teacher_hidden, sgd_step and newton_floor must be positive")

    @property
    def other_problem(self) -> str:
        """Returns the problem family of the ``other-family`` shift."""
        return PROBLEMS[1 - PROBLEMS.index(self.problem)]


def pool_size(diversity: float) -> int | None:
    """Returns the number of distinct train problems at ``diversity`` (None: unlimited)."""
    if diversity >= 1.0:
        return None
    return max(1, round(2 ** (POOL_BITS * diversity)))
