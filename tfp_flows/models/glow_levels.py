"""Level-wise decomposition of a Glow's log-likelihood.

A Glow with L levels (`glow.build_glow_bijector`) maps an image, in the
normalising direction, through L nested levels. Level l squeezes its input,
runs its K flow steps, standardises the channels that leave the flow here
(`GaussianFactorOut`, absent at the last level) and hands the rest to level
l + 1. Its log-likelihood therefore splits exactly into one term per level:

```none
log p(y) = sum_l [ log N(z_l; 0, I)                  (latents leaving at l)
                   + log|det d steps_l^-1|           (its K flow steps)
                   + log|det d factor_out_l^-1| ]    (its learned prior)
```

in nats, with `z_l` the l-th entry of `Glow.split_latents` (finest first).
Squeezes, the route's split and identity, and the image's shift by -0.5
only move or translate values (log-det 0). The shift's and the squeezes'
log-dets are still evaluated and added (the shift to level 1, each squeeze
to its own level); the split and identity are checked by type instead. The
terms sum to `Glow.log_density` up to float rounding.

This is the decomposition behind level-wise OoD scores (Schirrmeister et
al., 2020, "Understanding Anomaly Detection with Deep Invertible Networks
through Hierarchies of Distributions and Features"): the finest level is
dominated by local pixel statistics, coarser levels by more global structure.
`tfp_flows.ood.levels` turns it into scores.

The decomposition is read off the bijector itself (`_glow_levels` walks the
`Chain`s `build_glow_bijector` builds and checks each piece's type), never
guessed from variable names.

With `pad_to`, the zero border is part of the model's input: its subpixels
are spread over every level's latents like the image's, so each level's term
includes the border's contribution (as `log_prob` is log P(x, border = 0)).
A trained model predicts the constant border almost exactly, mostly at the
finest level: on the 3-level paper Glows (28x28 padded to 32x32) level 1's
bits/dim is negative (about -2.7 on Fashion-MNIST).
"""

import collections
import math

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows import bijectors as fb
from tfp_flows.models import discrete
from tfp_flows.models import glow as glow_lib

__all__ = ['level_dimensions', 'level_log_densities', 'level_log_probs']

# The pieces of one level, in the order the normalising pass runs them.
# `entry_squeeze` and `exit_squeeze` are the bijectors whose *inverse* runs
# (the chain's `Invert(squeeze)` and trailing `squeeze`), as is `split` (the
# route's `Invert(Split)`); `factor_out`, `split` and `inner` (the next
# level) are None at the last level.
_Level = collections.namedtuple(
    '_Level', ['entry_squeeze', 'steps', 'factor_out', 'split', 'inner',
               'exit_squeeze'])


def _structure_error(what, got):
  if hasattr(got, 'name'):  # A bijector's repr spells out all it nests.
    got = f'{type(got).__name__} {got.name!r}'
  return ValueError(
      f'Unexpected Glow bijector structure: {what}; got {got}. '
      '`glow_levels` reads bijectors built by `build_glow_bijector`.')


def _parse_level(bijector, level):
  """One level's `Chain` -> its `_Level` pieces (see `build_glow_bijector`).

  Args:
    bijector: the level's `fb.Chain`: `[Invert(squeeze), steps, squeeze]`
      (last level) or `[Invert(squeeze), steps, factor_out, route, squeeze]`
      with `route = Chain([Invert(split), JointMap([inner, identity]),
      split])`.
    level: Python `int`, 1-based, for error messages.

  Returns:
    A `_Level`.

  Raises:
    ValueError: any piece is not of the expected type.
  """
  if not isinstance(bijector, fb.Chain):
    raise _structure_error(f'level {level} must be a Chain', bijector)
  parts = list(bijector.bijectors)
  if len(parts) not in (3, 5):
    raise _structure_error(f'level {level} must have 3 or 5 parts',
                           [p.name for p in parts])
  entry, steps, exit_squeeze = parts[0], parts[1], parts[-1]
  if not (isinstance(entry, fb.Invert)
          and isinstance(entry.bijector, fb.Squeeze)):
    raise _structure_error(f'level {level} must start with Invert(Squeeze)',
                           entry)
  if not isinstance(steps, fb.Chain):
    raise _structure_error(f'level {level}\'s flow steps must be a Chain',
                           steps)
  if not isinstance(exit_squeeze, fb.Squeeze):
    raise _structure_error(f'level {level} must end with a Squeeze',
                           exit_squeeze)
  if len(parts) == 3:
    return _Level(entry, steps, None, None, None, exit_squeeze)
  factor_out, route = parts[2], parts[3]
  if not isinstance(factor_out, fb.GaussianFactorOut):
    raise _structure_error(f'level {level} must factor out with '
                           'GaussianFactorOut', factor_out)
  route_parts = (list(route.bijectors) if isinstance(route, fb.Chain)
                 else [])
  if not (len(route_parts) == 3
          and isinstance(route_parts[0], fb.Invert)
          and isinstance(route_parts[0].bijector, tfb.Split)
          and isinstance(route_parts[1], fb.JointMap)
          and isinstance(route_parts[2], tfb.Split)
          and len(route_parts[1].bijectors) == 2
          and isinstance(route_parts[1].bijectors[1], fb.ImageIdentity)):
    raise _structure_error(
        f'level {level}\'s route must be Chain([Invert(Split), '
        'JointMap([next level, ImageIdentity]), Split])', route)
  return _Level(entry, steps, factor_out, route_parts[0],
                route_parts[1].bijectors[0], exit_squeeze)


def _glow_levels(glow):
  """`(pre, levels)`: the bijectors before level 1 and the L `_Level`s.

  `glow.bijector` is `Chain([Shift(0.5), flow])`: in the normalising
  direction the shift runs first (`pre`, a list), then `flow`, the
  outermost (finest) level, which nests the others through its route.

  Raises:
    TypeError: `glow` is not a `Glow`.
    ValueError: the bijector does not have the structure above, or its
      level count or latent shapes disagree with the model's.
  """
  if not isinstance(glow, glow_lib.Glow):
    raise TypeError(f'`glow` must be a tfp_flows Glow; got {type(glow).__name__}.')
  outer = glow.bijector
  if not isinstance(outer, fb.Chain) or not outer.bijectors:
    raise _structure_error('glow.bijector must be a Chain', outer)
  pre = list(outer.bijectors[:-1])
  levels = []
  current = outer.bijectors[-1]
  while current is not None:
    level = _parse_level(current, len(levels) + 1)
    levels.append(level)
    current = level.inner
  if len(levels) != glow.num_levels:
    raise _structure_error(f'{glow.num_levels} nested levels expected',
                           len(levels))
  return pre, levels


def level_dimensions(glow):
  """The number of latent subpixels that leave the flow at each level.

  Args:
    glow: a `Glow`.

  Returns:
    List of L Python `int`s, finest level first; they sum to
    `glow.num_model_subpixels` (the padded canvas with `pad_to`).

  Raises:
    TypeError: `glow` is not a `Glow`.
  """
  _glow_levels(glow)  # The type and structure checks.
  return [math.prod(shape) for shape in glow.latent_shapes]


def _level_terms(glow, y):
  """Per-level log-density terms of padded, continuous images (in a trace).

  Args:
    glow: a `Glow`.
    y: float `Tensor` `[N, H', W', C]`, the model's (padded) input in
      `[0, 1]`.

  Returns:
    Float `Tensor` `[N, L]`, nats per image, finest level first.
  """
  pre, levels = _glow_levels(glow)
  base = glow.distribution.distribution
  # The base is `Sample(Normal(0, 1), model_shape)`: i.i.d. over subpixels,
  # so its log-density splits over any partition of the latents. Each
  # level's share is the scalar distribution summed over its latent's event.
  if not isinstance(base, tfd.Sample):
    raise _structure_error('the base distribution must be a tfd.Sample', base)
  scalar = base.distribution

  def normal_log_density(z):
    return tf.reduce_sum(scalar.log_prob(z), axis=[-3, -2, -1])

  h = y
  pre_log_det = tf.zeros(tf.shape(y)[:1], y.dtype)
  for bijector in pre:
    pre_log_det += bijector.inverse_log_det_jacobian(h, event_ndims=3)
    h = bijector.inverse(h)
  terms = []
  expected_shapes = glow.latent_shapes
  for index, level in enumerate(levels):
    log_det = level.entry_squeeze.inverse_log_det_jacobian(h, event_ndims=3)
    h = level.entry_squeeze.inverse(h)  # Squeeze: [H, W, C] -> [H/2, W/2, 4C].
    log_det += level.steps.inverse_log_det_jacobian(h, event_ndims=3)
    h = level.steps.inverse(h)
    if level.factor_out is not None:
      log_det += level.factor_out.inverse_log_det_jacobian(h, event_ndims=3)
      h = level.factor_out.inverse(h)
      # The route's first step in this direction, `Invert(split)`, splits the
      # channels; its JointMap hands the first half to the next level and
      # the second (factor-out's standardised `z`) to `ImageIdentity`
      # (checked in `_parse_level`): that half is this level's latent. Split
      # and identity only move values (log-det 0).
      h, exited = level.split.inverse(h)
    else:
      exited = h
    if exited.shape[1:].as_list() != expected_shapes[index]:
      raise _structure_error(
          f'level {index + 1}\'s latent must have shape '
          f'{expected_shapes[index]} (Glow.latent_shapes)',
          exited.shape[1:].as_list())
    # The exit squeeze's inverse (depth-to-space) only moves values; its
    # log-det is evaluated on its input, the concatenation it un-squeezes.
    log_det += level.exit_squeeze.inverse_log_det_jacobian(
        exited if level.factor_out is None else tf.concat([h, exited], -1),
        event_ndims=3)
    if index == 0:
      log_det += pre_log_det
    terms.append(normal_log_density(exited) + log_det)
  return tf.stack(terms, axis=-1)


def level_log_densities(glow, y):
  """Each level's share of `glow.log_density(y)`, in nats per image.

  Level l's share is the standard-normal log-density of the latents that
  leave the flow at level l (`split_latents` order, finest first) plus the
  log-det-Jacobians (normalising direction, event_ndims=3) of level l's own
  bijectors: its flow steps and its factor-out (and its squeezes, which
  contribute 0). With `pad_to` the zero border is part of the model's input,
  and each level's share includes the border subpixels it holds.

  Args:
    glow: a `Glow`.
    y: float `[..., H, W, C]` images scaled to `[0, 1]`, as for
      `Glow.log_density` (unpadded; padded with 0 like it).

  Returns:
    Float `Tensor` `[..., L]` (the model dtype), nats per image, finest level
    first. Its sum over the last axis equals `glow.log_density(y)` up to
    float rounding.

  Raises:
    TypeError: `glow` is not a `Glow`; `y` is not float.
    ValueError: `y` does not have shape `[..., H, W, C]`.
  """
  _glow_levels(glow)
  y = glow._check_continuous(y)  # pylint: disable=protected-access
  # The model's own cache of compiled functions: one trace for all batch
  # shapes, and the same flattening/empty-batch handling as log_density.
  return glow._compiled.call(  # pylint: disable=protected-access
      'level_log_densities',
      lambda v: _level_terms(glow, glow._pad(v)),  # pylint: disable=protected-access
      y)


def level_log_probs(glow, images, seed=None):
  """Each level's share of `glow.log_prob(images, seed=seed)`, in nats.

  The images are dequantised exactly as `Glow.log_prob` does with
  `num_samples=1` (same seed, same noise), and the discretisation offset
  `-D_model * log(2**n_bits)` is shared out in proportion to each level's
  latent dimension: level l gets `-d_l * log(2**n_bits)`, with `d_l` from
  `level_dimensions`. This is the offset of a uniform bin of width
  `2**-n_bits` per subpixel, counted on the latent subpixels the level
  describes, so a level's bits/dim (`-share / (d_l ln 2)`) is on the same
  scale as a whole model's.

  Args:
    glow: a `Glow`.
    images: integer images `[..., H, W, C]` in `[0, 2**n_bits - 1]` (as for
      `Glow.log_prob`).
    seed: `None` (fresh noise), an `int` or a pair: the dequantisation seed.

  Returns:
    Float `Tensor` `[..., L]` (the model dtype), nats per image, finest level
    first; its sum over the last axis equals `glow.log_prob(images,
    seed=seed)` up to float rounding.

  Raises:
    TypeError: `glow` is not a `Glow`; `images` not numeric.
    ValueError: wrong shape, out-of-range or non-integer values
      (`discrete.check_images`).
  """
  dims = level_dimensions(glow)
  images = discrete.check_images(images, glow.image_shape, glow.n_bits)
  dtype = glow.distribution.dtype
  log_bin = math.log(discrete.num_bins(glow.n_bits))
  offsets = tf.constant([d * log_bin for d in dims], dtype)

  def body(x, s):
    # The canvas `log_prob_unchecked(x, s, num_samples=1)` scores: same
    # seed, same noise.
    return _level_terms(glow, glow.dequantized_canvas(x, s)) - offsets
  return glow._compiled.call(  # pylint: disable=protected-access
      'level_log_probs', body, images,
      glow_lib._seed_tensor(seed))  # pylint: disable=protected-access
