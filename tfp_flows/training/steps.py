"""The maximum-likelihood training step, and a short loop that runs it."""

import time

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.models import discrete
from tfp_flows.training import mutation

__all__ = ['check_regularisers', 'make_train_step', 'train_steps']


def check_regularisers(mutation_rate, l2_weight):
  """`(mutation_rate, l2_weight)` as floats; ValueError naming a bad one."""
  if isinstance(l2_weight, bool) or not isinstance(
      l2_weight, (int, float)) or not l2_weight >= 0:
    raise ValueError(f'`l2_weight` must be a number >= 0; got {l2_weight!r}.')
  return mutation.check_mutation_rate(mutation_rate), float(l2_weight)


def make_train_step(model, optimizer, global_batch_size, strategy=None,
                    clip_norm=None, ema=None, jit_compile=False,
                    mutation_rate=0., l2_weight=0.):
  """Builds the `tf.function` that takes one optimizer step on a batch.

  The one training step of tfp_flows: the trainer, `train_steps` and the
  benchmarks all run it. The per-example loss is bits/dim (the discrete
  negative log-likelihood divided by `D ln 2`), averaged over the global
  batch with `tf.nn.compute_average_loss`; gradients are summed over
  replicas, clipped by global norm, and applied only if the loss and every
  gradient are finite (a non-finite step is reported, not applied).

  Args:
    model: an `ImageDensityModel` with `log_prob_unchecked(images, seed)`,
      `num_subpixels` and `trainable_variables`; built, like `optimizer`
      and `ema`, inside `strategy.scope()`.
    optimizer: a `tf_keras` optimizer.
    global_batch_size: Python `int`, images per step over all replicas.
    strategy: a `tf.distribute.Strategy`, or `None` for the default one.
    clip_norm: optional Python `float`: clip gradients by global norm.
    ema: optional `models.ema.ExponentialMovingAverage`, updated after each
      applied step.
    jit_compile: Python `bool`, XLA-compile each replica's gradients.
    mutation_rate: Python `float` in [0, 1): the fraction of each image's
      subpixels replaced by other grey levels before the step
      (`training.mutation.mutate`; for background models of the
      likelihood-ratio score). Default value: `0.` (images as given).
    l2_weight: Python `float` >= 0: adds `l2_weight * sum ||v||^2` over the
      trainable variables to the objective (bits/dim), the background
      model's other regulariser. Default value: `0.`.

  Returns:
    `step(images, seed_pair) -> (loss, grad_norm, applied)`: images `[N, H,
    W, C]` (uint8, or float32 on the same 0..255 scale; per replica under a
    strategy), seed_pair int32 `[2]` (folded with the replica id, so each
    replica draws its own dequantisation noise); loss float32 mean bits/dim,
    grad_norm float32 (before clipping), applied bool. The loss is the
    bits/dim of the (mutated) batch, without the L2 term.
  """
  mutation_rate, l2_weight = check_regularisers(mutation_rate, l2_weight)
  strategy = strategy or tf.distribute.get_strategy()
  variables = model.trainable_variables
  num_subpixels = model.num_subpixels
  # Models with dropout (PixelCNN) take the training path here only.
  kwargs = {'training': True} if getattr(model, 'has_training_mode',
                                         False) else {}

  def replica_grads(images, seed_pair):
    replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
    step_seed = tf.random.experimental.stateless_fold_in(seed_pair,
                                                         replica_id)
    if mutation_rate:
      # Its own stream: the dequantisation noise stays what it would be
      # without mutation.
      images = mutation.mutate(
          images, mutation_rate,
          tf.random.experimental.stateless_fold_in(step_seed, 1),
          n_bits=model.n_bits)
    with tf.GradientTape() as tape:
      log_p = model.log_prob_unchecked(images, step_seed, **kwargs)
      per_example = discrete.bits_per_dim(log_p, num_subpixels)
      loss = tf.nn.compute_average_loss(per_example,
                                        global_batch_size=global_batch_size)
      objective = loss
      if l2_weight:
        # Scaled by 1 / replicas: the replicas' gradients are summed.
        objective += tf.nn.scale_regularization_loss(
            l2_weight * tf.add_n([tf.reduce_sum(tf.square(v))
                                  for v in variables]))
    return tape.gradient(objective, variables), loss

  if jit_compile:
    replica_grads = tf.function(replica_grads, jit_compile=True,
                                autograph=False)

  @tf.function(autograph=False)
  def step(images, seed_pair):
    grads, loss = strategy.run(replica_grads, args=(images, seed_pair))
    grads = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None)
             for g in grads]
    loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
    grad_norm = tf.linalg.global_norm(grads)
    finite = tf.logical_and(tf.math.is_finite(loss),
                            tf.math.is_finite(grad_norm))
    if clip_norm is not None:
      # On a non-finite norm clip_by_global_norm yields NaNs; they are never
      # applied because `finite` is false then.
      grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=grad_norm)

    def apply():
      optimizer.apply_gradients(zip(grads, variables))
      if ema is not None:
        ema.update()
      return tf.constant(True)
    # Applied in cross-replica context: a conditional update inside
    # replica context would need a merge_call inside tf.cond.
    applied = tf.cond(finite, apply, lambda: tf.constant(False))
    return loss, grad_norm, applied
  return step


def train_steps(model, images, num_steps, batch_size=64, learning_rate=1e-3,
                seed=0, log_every=0, log=print):
  """Trains `model` for `num_steps` Adam steps on random batches of `images`.

  A small loop for tests, examples and first measurements, on the default
  strategy; the trainer (distribution strategies, checkpoints, summaries)
  runs the same `make_train_step`.

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
  step = make_train_step(model, optimizer, batch_size)
  losses = []
  start = None
  for i in range(num_steps):
    batch = images[rng.integers(0, len(images), batch_size)]
    loss, _, _ = step(tf.constant(batch), tf.constant([seed, i], tf.int32))
    losses.append(float(loss))
    if i == 0:
      start = time.perf_counter()
    if log_every and (i + 1) % log_every == 0:
      log(f'step {i + 1}/{num_steps}  loss {losses[-1]:.3f} bits/dim')
  seconds = time.perf_counter() - start if num_steps > 1 else float('nan')
  return dict(losses=losses, seconds=seconds,
              images_per_second=(num_steps - 1) * batch_size / seconds
              if num_steps > 1 else float('nan'))
