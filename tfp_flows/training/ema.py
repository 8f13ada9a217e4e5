"""Polyak (exponential moving average) copies of a model's weights."""

import contextlib

import tensorflow as tf

__all__ = ['ExponentialMovingAverage']


class ExponentialMovingAverage(tf.Module):
  """Keeps `shadow = decay * shadow + (1 - decay) * weight` for each variable.

  Create it inside the strategy scope, after the model. The shadows are
  checkpointed with it; `swapped_in()` evaluates with the averaged weights.
  """

  def __init__(self, variables, decay=0.999, name='ema'):
    super().__init__(name=name)
    if not 0. < decay < 1.:
      raise ValueError(f'`ema_decay` must be in (0, 1); got {decay!r}.')
    self.decay = decay
    self._variables = list(variables)
    with self.name_scope:
      # MEAN aggregation: every replica computes the same update, so the
      # assignment is legal (and exact) in replica context.
      self.shadows = [
          tf.Variable(v.read_value(), trainable=False,
                      name=v.name.split(':')[0].replace('/', '_'),
                      aggregation=tf.VariableAggregation.MEAN)
          for v in self._variables]

  def update(self):
    """Moves each shadow towards its variable (graph-safe)."""
    for shadow, v in zip(self.shadows, self._variables):
      shadow.assign(self.decay * shadow + (1. - self.decay) * v)

  def reset_to_weights(self):
    """Sets every shadow to its variable's current value (e.g. after init)."""
    for shadow, v in zip(self.shadows, self._variables):
      shadow.assign(v)

  @contextlib.contextmanager
  def swapped_in(self):
    """Temporarily gives the model its averaged weights (eager)."""
    backup = [v.read_value() for v in self._variables]
    for shadow, v in zip(self.shadows, self._variables):
      v.assign(shadow)
    try:
      yield
    finally:
      for value, v in zip(backup, self._variables):
        v.assign(value)
