"""Adam with linear warm-up and optional cosine decay."""

import math

import tensorflow as tf
import tf_keras

__all__ = ['WarmupCosine', 'make_optimizer']


class WarmupCosine(tf_keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `peak` over `warmup_steps`, then constant, or
  cosine decay to `peak * final_fraction` at `decay_steps` when given."""

  def __init__(self, peak, warmup_steps=0, decay_steps=None,
               final_fraction=0.0):
    if not peak > 0:
      raise ValueError(f'`learning_rate` must be positive; got {peak!r}.')
    if warmup_steps < 0:
      raise ValueError(f'`warmup_steps` must be >= 0; got {warmup_steps!r}.')
    if decay_steps is not None and decay_steps <= warmup_steps:
      raise ValueError('`decay_steps` must exceed `warmup_steps`; got '
                       f'{decay_steps!r} <= {warmup_steps!r}.')
    self.peak = float(peak)
    self.warmup_steps = int(warmup_steps)
    self.decay_steps = decay_steps
    self.final_fraction = float(final_fraction)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    lr = tf.constant(self.peak)
    if self.warmup_steps:
      lr = lr * tf.minimum(1., (step + 1.) / self.warmup_steps)
    if self.decay_steps is not None:
      progress = tf.clip_by_value(
          (step - self.warmup_steps) / (self.decay_steps - self.warmup_steps),
          0., 1.)
      cosine = 0.5 * (1. + tf.cos(math.pi * progress))
      decayed = self.final_fraction + (1. - self.final_fraction) * cosine
      lr = lr * tf.where(step < self.warmup_steps, 1., decayed)
    return lr

  def get_config(self):
    return dict(peak=self.peak, warmup_steps=self.warmup_steps,
                decay_steps=self.decay_steps,
                final_fraction=self.final_fraction)


def make_optimizer(learning_rate=1e-3, warmup_steps=0, decay_steps=None,
                   final_fraction=0.0, beta_1=0.9, beta_2=0.999,
                   epsilon=1e-8):
  """A `tf_keras` Adam with the `WarmupCosine` schedule."""
  return tf_keras.optimizers.Adam(
      WarmupCosine(learning_rate, warmup_steps, decay_steps, final_fraction),
      beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
