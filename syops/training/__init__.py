"""Training energy: the backward pass and the optimizer update, counted beside the forward pass.

``TrainingRecorder`` attaches to a model (and optionally its optimizer) and counts the backward passes and
``step()`` calls the user's own code runs, by the rules in ``syops.training.costs`` and the optimizer table
in ``syops.training.optimizers``; ``syops.training.phases`` prices them per sample.
"""

from .costs import Access, Cost, reset_path
from .optimizers import UpdateRule, adam_rule, sgd_rule
from .phases import PHASES, TrainingFigures, training_figures
from .recorder import TrainingRecorder

__all__ = [
    "PHASES",
    "Access",
    "Cost",
    "TrainingFigures",
    "TrainingRecorder",
    "UpdateRule",
    "adam_rule",
    "reset_path",
    "sgd_rule",
    "training_figures",
]
