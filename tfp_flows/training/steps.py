"""A compiled maximum-likelihood training step and a short training loop."""

import time

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.models import discrete

__all__ = ['make_train_step', 'train_steps']


def make_train_step(model, optimizer, clip_norm=None, jit_compile=False):
  """Builds a `tf.function` that takes one Adam step on a batch of images.

  The loss is the mean bits/dim of the batch (the discrete negative
  log-likelihood divided by `D ln 2`), a scale-free number whose value is
  directly the reported metric.

  Args:
    model: an `ImageDensityModel` with `log_prob_unchecked(images, seed)` and
      `trainable_variables`.
    optimizer: a `tf_keras` optimizer.
    clip_norm: optional Python `float`: clip gradients by global norm.
    jit_compile: Python `bool`, compile the step with XLA.

  Returns:
    `step(images, seed) -> (loss, grad_norm)`: images uint8
    `[N, H, W, C]`, seed int32 `[2]`; both outputs float32 scalars.
  """
  variables = model.trainable_variables
  shape = [None] + list(model.image_shape)
  # Models with dropout (PixelCNN) take the training path here only.
  kwargs = {'training': True} if getattr(model, 'has_training_mode',
                                         False) else {}

  @tf.function(jit_compile=jit_compile, autograph=False, input_signature=[
      tf.TensorSpec(shape, tf.uint8), tf.TensorSpec([2], tf.int32)])
  def step(images, seed):
    with tf.GradientTape() as tape:
      log_p = model.log_prob_unchecked(images, seed, **kwargs)
      loss = tf.reduce_mean(
          discrete.bits_per_dim(log_p, model.num_subpixels))
    grads = tape.gradient(loss, variables)
    if clip_norm is not None:
      grads, grad_norm = tf.clip_by_global_norm(grads, clip_norm)
    else:
      grad_norm = tf.linalg.global_norm(grads)
    optimizer.apply_gradients(zip(grads, variables))
    return loss, grad_norm
  return step


def train_steps(model, images, num_steps, batch_size=64, learning_rate=1e-3,
                seed=0, log_every=0, log=print):
  """Trains `model` for `num_steps` Adam steps on random batches of `images`.

  A small, dependency-free loop for tests, examples and first measurements;
  the full trainer (distribution strategies, checkpoints, summaries) builds
  on `make_train_step`.

  Args:
    model: an `ImageDensityModel` (ActNorm initialisation is done here on the
      first batch if the model has `initialize`).
    images: uint8 array `[N, H, W, C]`.
    num_steps: Python `int`.
    batch_size: Python `int`.
    learning_rate: Python `float`.
    seed: Python `int`: batch order and dequantisation noise.
    log_every: print progress every this many steps (0: never).
    log: callable for progress lines.

  Returns:
    dict with `losses` (bits/dim per step, list of float), `seconds` (wall
    time of the steps after the first, which includes tracing) and
    `images_per_second` (same).
  """
  rng = np.random.default_rng(seed)
  if hasattr(model, 'initialize'):
    model.initialize(images[rng.choice(len(images), min(len(images), 512),
                                       replace=False)], seed=seed)
  optimizer = tf_keras.optimizers.Adam(learning_rate)
  step = make_train_step(model, optimizer)
  losses = []
  start = None
  for i in range(num_steps):
    batch = images[rng.integers(0, len(images), batch_size)]
    loss, _ = step(tf.constant(batch), tf.constant([seed, i], tf.int32))
    losses.append(float(loss))
    if i == 0:
      start = time.perf_counter()
    if log_every and (i + 1) % log_every == 0:
      log(f'step {i + 1}/{num_steps}  loss {losses[-1]:.3f} bits/dim')
  seconds = time.perf_counter() - start if num_steps > 1 else float('nan')
  return dict(losses=losses, seconds=seconds,
              images_per_second=(num_steps - 1) * batch_size / seconds
              if num_steps > 1 else float('nan'))
