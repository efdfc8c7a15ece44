"""Neural-network building blocks: Module, layers, losses, initialisation, save/load."""

from microgradnp.nn import functional, init, utils
from microgradnp.nn.containers import ModuleDict, ModuleList
from microgradnp.nn.conv import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    MaxPool1d,
    MaxPool2d,
)
from microgradnp.nn.ensemble import Ensemble
from microgradnp.nn.layers import (
    CELU,
    ELU,
    GELU,
    MLP,
    SELU,
    Dropout,
    Flatten,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
    Unflatten,
)
from microgradnp.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HalfMSELoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, Embedding, GroupNorm, LayerNorm
from microgradnp.nn.serialization import load, save
