"""learn2learn 0.2.0, built from its sdist by the set-up, imports and adapts."""

import torch


def test_maml_clone_adapt_reduces_the_loss():
    import learn2learn as l2l

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    maml = l2l.algorithms.MAML(model, lr=0.1)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    learner = maml.clone()
    before = torch.nn.functional.mse_loss(learner(x), y)
    for _ in range(5):
        learner.adapt(torch.nn.functional.mse_loss(learner(x), y))
    after = torch.nn.functional.mse_loss(learner(x), y)
    assert after < 0.5 * before
    # the clone is differentiable back to the meta-parameters, the point of MAML
    after.backward()
    assert model.weight.grad is not None and torch.isfinite(model.weight.grad).all()


def test_compiled_data_extensions_load():
    from learn2learn.data import task_dataset

    assert hasattr(task_dataset, "TaskDataset")
