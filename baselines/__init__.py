"""The methods: RL^2, the memoryless control, learned optimizers, MAML, in-context models."""
