"""Training: per-step optimisation of image density models."""

from tfp_flows.training.steps import make_train_step
from tfp_flows.training.steps import train_steps

__all__ = ['make_train_step', 'train_steps']
