"""Optimizers and learning-rate schedules, with PyTorch's names and semantics.

Typical use:

    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = mg.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()
        scheduler.step()

``LBFGS`` re-evaluates the model several times per step: its ``step`` takes a closure (see ``LBFGS``).
``Muon`` optimizes 2-D weights only (give the biases to another optimizer).
"""

from microgradnp.optim import lr_scheduler, swa_utils
from microgradnp.optim.adadelta import Adadelta
from microgradnp.optim.adafactor import Adafactor
from microgradnp.optim.adagrad import Adagrad
from microgradnp.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from microgradnp.optim.asgd import ASGD
from microgradnp.optim.lbfgs import LBFGS
from microgradnp.optim.muon import Muon
from microgradnp.optim.optimizer import Optimizer
from microgradnp.optim.rmsprop import RMSprop
from microgradnp.optim.rprop import Rprop
from microgradnp.optim.sgd import SGD

__all__ = ["ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Muon", "NAdam",
           "Optimizer", "RAdam", "RMSprop", "Rprop", "lr_scheduler", "swa_utils"]
