"""The methods this package exposes through the ``mesa_bench.methods`` entry point.

Lazy ``"module:attr"`` strings: a method's file (and torch, learn2learn) is imported only
when it is asked for.
"""

METHODS: dict[str, str] = {
    "rl2": "baselines.rl2:RL2",
    "memoryless": "baselines.memoryless:Memoryless",
    "lstm-optimizer": "baselines.lstm_optimizer:LSTMOptimizer",
    "l2l-learnable-optimizer": "baselines.l2l_learnable_optimizer:L2LLearnableOptimizer",
    "maml": "baselines.maml:MAML",
    "meta-sgd": "baselines.maml:MetaSGD",
    "icl-transformer": "baselines.icl_transformer:ICLTransformer",
    "icl-lstm": "baselines.icl_lstm:ICLLSTM",
    "dpt": "baselines.dpt:DPT",
    "ad": "baselines.ad:AD",
}
