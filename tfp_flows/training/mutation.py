"""Pixel mutation: the input perturbation a background model is trained on.

The likelihood-ratio OoD score (Ren et al., NeurIPS 2019) divides a model's
likelihood by that of a *background* model, trained like it but on images
in which a fraction `mu` of the subpixels is replaced by random grey
levels, so that it learns the local pixel statistics and not the semantics.

Ren et al. replace each subpixel with probability `mu` by a uniform draw
from all 256 levels, so the realised fraction varies and 1/256 of the
"replaced" subpixels keep their value. Here exactly `round(mu * D)`
subpixels of every image change, each to a level drawn uniformly from the
other `2**n_bits - 1`: the stated rate is the rate applied.
"""

import tensorflow as tf

__all__ = ['check_mutation_rate', 'mutate']


def check_mutation_rate(rate):
  """`rate` as a Python float in [0, 1); raises ValueError naming it."""
  if isinstance(rate, bool) or not isinstance(rate, (int, float)):
    raise ValueError(f'`mutation_rate` must be a number in [0, 1); got '
                     f'{rate!r}.')
  if not 0. <= rate < 1.:
    raise ValueError(f'`mutation_rate` must be in [0, 1) (the fraction of '
                     f'subpixels replaced); got {rate}.')
  return float(rate)


def mutate(images, rate, seed, n_bits=8):
  """Replaces exactly `round(rate * D)` subpixels of each image.

  Args:
    images: `Tensor` `[N, H, W, C]`, uint8 or float holding integer grey
      levels in `[0, 2**n_bits - 1]` (the trainer's batches are float32 on
      the 0..255 scale). D = H * W * C.
    rate: Python `float` in [0, 1), the fraction of subpixels replaced.
    seed: int32 `Tensor` `[2]`, stateless seed: positions and new levels.
    n_bits: Python `int`, bits per subpixel.

  Returns:
    `Tensor` of `images`' shape and dtype: each image with its chosen
    subpixels set to a level different from the original one, uniform over
    the other `2**n_bits - 1` levels. `rate = 0` returns `images` itself.
  """
  rate = check_mutation_rate(rate)
  images = tf.convert_to_tensor(images)
  if images.shape.rank != 4:
    raise ValueError(f'`images` must be [N, H, W, C]; got shape '
                     f'{images.shape}.')
  height, width, channels = images.shape[1:]
  num_subpixels = height * width * channels
  num_changed = int(round(rate * num_subpixels))
  if num_changed == 0:
    return images
  levels = 2 ** n_bits
  batch = tf.shape(images)[0]
  flat = tf.reshape(tf.cast(images, tf.int32), [batch, num_subpixels])
  position_seed, level_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  # The `num_changed` largest of D uniform keys: positions drawn without
  # replacement, each set of positions equally likely.
  keys = tf.random.stateless_uniform([batch, num_subpixels], position_seed)
  _, positions = tf.math.top_k(keys, k=num_changed, sorted=False)
  chosen = tf.reduce_max(tf.one_hot(positions, num_subpixels, dtype=tf.int32),
                         axis=1)
  # An offset in 1..levels-1 added modulo `levels` never gives back the
  # original level and reaches each other level with equal probability.
  offsets = tf.random.stateless_uniform([batch, num_subpixels], level_seed,
                                        minval=1, maxval=levels,
                                        dtype=tf.int32)
  mutated = tf.where(chosen > 0, (flat + offsets) % levels, flat)
  return tf.cast(tf.reshape(mutated, tf.shape(images)), images.dtype)
