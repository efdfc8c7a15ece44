"""Neural-network building blocks: Module, layers, losses, initialisation, save/load."""

from microgradnp.nn import functional, init
from microgradnp.nn.conv import AvgPool1d, Conv1d, MaxPool1d
from microgradnp.nn.ensemble import Ensemble
from microgradnp.nn.layers import (
    MLP,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    Unflatten,
)
from microgradnp.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HalfMSELoss, MSELoss, NLLLoss
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.serialization import load, save
