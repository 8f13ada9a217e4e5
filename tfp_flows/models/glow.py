"""Glow composed from TFP bijectors, with Glow's multi-scale architecture."""

import math

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows import bijectors as fb
from tfp_flows.models import base
from tfp_flows.models import compiled
from tfp_flows.models import discrete
from tfp_flows.utils.validation import positive_int

__all__ = ['Glow', 'build_glow_bijector']

_COUPLINGS = ('affine', 'additive')


def _flow_step(num_channels, coupling, hidden_channels, seed, dtype,
               conv_implementation, name):
  """One Glow step; its inverse (normalising) runs ActNorm, 1x1 conv, coupling."""
  return fb.Chain([
      fb.ActNorm(num_channels, dtype=dtype, name=f'{name}_actnorm'),
      fb.InvertibleConv1x1(num_channels, seed=[seed, 1], dtype=dtype,
                           name=f'{name}_conv1x1'),
      fb.AffineCoupling(
          num_channels,
          fb.glow_conditioner_factory(
              hidden_channels, seed=[seed, 2], dtype=dtype,
              conv_implementation=conv_implementation),
          additive=(coupling == 'additive'), dtype=dtype,
          name=f'{name}_coupling'),
  ], name=name)


def build_glow_bijector(event_shape, num_levels, num_steps_per_level,
                        hidden_channels, coupling='affine', seed=0,
                        dtype=tf.float32, level=1, conv_implementation='fast'):
  """Builds the generative bijector (standard-normal latent -> centred image).

  Every level maps `[H, W, C]` to `[H, W, C]`, so levels nest without
  reshaping. In the normalising direction (`inverse`) a level squeezes to
  `[H/2, W/2, 4C]`, runs its flow steps, factors out the last half of the
  channels with a learned conditional Gaussian (`GaussianFactorOut`), hands the
  first half to the next level through `Split`/`JointMap`, and un-squeezes the
  result. The last level has no factor-out. The final latent, squeezed the
  same way level by level, yields the per-level latents (see `Glow.encode`).

  Args:
    event_shape: `[H, W, C]` with H, W divisible by `2**num_levels`.
    num_levels: Python `int` L >= 1.
    num_steps_per_level: Python `int` K >= 1.
    hidden_channels: width of each coupling network.
    coupling: 'affine' or 'additive'.
    seed: Python `int` for weight initialisation.
    dtype: float dtype.
    level: index of this level (1 = finest), for names and seeds.
    conv_implementation: `'fast'` or `'reference'`: how the conditioners run
      their 3x3 convs (`tfp_flows.bijectors.conditioners`); same variables.

  Returns:
    A `tfb.Bijector` with event shape `[H, W, C]` in and out.
  """
  height, width, channels = event_shape
  squeezed = 4 * channels
  steps = fb.Chain([
      _flow_step(squeezed, coupling, hidden_channels,
                 seed=seed * 100003 + level * 1009 + k, dtype=dtype,
                 conv_implementation=conv_implementation,
                 name=f'level{level}_step{k}')
      for k in range(num_steps_per_level)], name=f'level{level}_steps')
  squeeze = fb.Squeeze(name=f'level{level}_squeeze')
  if num_levels == 1:
    return fb.Chain([fb.Invert(squeeze), steps, squeeze],
                     name=f'level{level}')
  factor_out = fb.GaussianFactorOut(
      squeezed, fb.zero_conv_factory(
          dtype=dtype, conv_implementation=conv_implementation),
      dtype=dtype, name=f'level{level}_factor_out')
  inner = build_glow_bijector(
      [height // 2, width // 2, squeezed // 2], num_levels - 1,
      num_steps_per_level, hidden_channels, coupling, seed, dtype, level + 1,
      conv_implementation)
  split = tfb.Split(2, axis=-1, name=f'level{level}_split')
  route = fb.Chain(
      [fb.Invert(split), fb.JointMap([inner, fb.ImageIdentity()]), split],
      name=f'level{level}_route')
  return fb.Chain([fb.Invert(squeeze), steps, factor_out, route, squeeze],
                   name=f'level{level}')


def _seed_tensor(seed):
  """A stateless seed `[2]` int32 from None (fresh draw), an int or a pair."""
  if seed is None:
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
  if tf.is_tensor(seed):
    return tf.cast(seed, tf.int32)
  if isinstance(seed, (int, np.integer)):
    return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)
  seed = list(seed)
  if len(seed) != 2:
    raise ValueError(f'`seed` must be an int or a pair of ints; got {seed!r}.')
  return tf.constant(seed, tf.int32)


class Glow(base.ImageDensityModel, tf.Module):
  """Glow (Kingma & Dhariwal 2018) for `n_bits` images, as a TFP distribution.

  `distribution` is a `tfd.TransformedDistribution` of a standard normal over
  the (padded) model shape by `bijector`, whose forward maps latents to images
  scaled to `[0, 1]`. `log_prob` turns it into a discrete likelihood of
  integer images by uniform dequantisation:

  ```none
  log P(x) ~= log p_c((x + u) / 2**n_bits) - D_model * log(2**n_bits)   (nats)
  bits/dim  = -log P(x) / (D * ln 2),   D = H * W * C of the input image
  ```

  Padding (`pad_to`): the image is centred in a `pad_to x pad_to` canvas of
  zeros, and the model describes all `D_model` padded subpixels. `log_prob`
  is then log P(x, border = 0), a lower bound on log P(x) (the border's
  probability is at most 1), and bits/dim still divides by the D of the
  unpadded image, so padded numbers are upper bounds on the true bits/dim.

  #### Examples

  ```python
  glow = Glow(image_shape=[28, 28, 1], num_levels=2, num_steps_per_level=8)
  glow.initialize(train_images[:512])           # ActNorm data-dependent init
  bpd = glow.bits_per_dim(test_images, seed=0)  # float32 [N]
  ```
  """

  def __init__(self, image_shape=(28, 28, 1), num_levels=2,
               num_steps_per_level=16, hidden_channels=128, coupling='affine',
               pad_to=None, n_bits=8, seed=0, dtype=tf.float32,
               conv_implementation='fast', name='glow'):
    """Builds the model.

    Args:
      image_shape: `[H, W, C]` of the input images. Default value: `(28, 28, 1)`.
      num_levels: Python `int` L, levels of the multi-scale architecture.
        Default value: `2` (28 -> 14 -> 7).
      num_steps_per_level: Python `int` K. Default value: `16`.
      hidden_channels: Python `int`, coupling network width. Default value: `128`.
      coupling: `'affine'` or `'additive'`. Default value: `'affine'`.
      pad_to: `None` or Python `int` >= H, W: side of the zero-padded canvas
        (e.g. 32 for three levels on 28x28). Default value: `None`.
      n_bits: Python `int` bits per subpixel. Default value: `8`.
      seed: Python `int` for weight initialisation. Default value: `0`.
      dtype: float dtype. Default value: `tf.float32`.
      conv_implementation: `'fast'` (default) or `'reference'`: how coupling
        and prior networks run their 3x3 convolutions. Same variables, same
        values up to float rounding (`tfp_flows.bijectors.conditioners`), so
        checkpoints load either way; `'reference'` is the plain
        `tf.nn.conv2d` path, kept to check the fast one against.
      name: Python `str`.
    """
    tf.Module.__init__(self, name=name)
    image_shape = [int(d) for d in image_shape]
    if len(image_shape) != 3 or min(image_shape) <= 0:
      raise ValueError('`image_shape` must be [H, W, C] of positive ints; got '
                       f'{image_shape!r}.')
    num_levels = positive_int(num_levels, 'num_levels')
    num_steps_per_level = positive_int(num_steps_per_level,
                                       'num_steps_per_level')
    hidden_channels = positive_int(hidden_channels, 'hidden_channels')
    if coupling not in _COUPLINGS:
      raise ValueError(f'`coupling` must be one of {_COUPLINGS}; got '
                       f'{coupling!r}.')
    self._bins = discrete.num_bins(n_bits)
    height, width, channels = image_shape
    if pad_to is not None:
      pad_to = positive_int(pad_to, 'pad_to')
      if pad_to < max(height, width):
        raise ValueError(f'`pad_to` ({pad_to}) must be at least the image '
                         f'height and width {image_shape[:2]}.')
      model_shape = [pad_to, pad_to, channels]
    else:
      model_shape = list(image_shape)
    divisor = 2 ** num_levels
    if model_shape[0] % divisor or model_shape[1] % divisor:
      raise ValueError(
          f'`num_levels={num_levels}` squeezes {num_levels} times, so height '
          f'and width must be divisible by {divisor}; got {model_shape[:2]}. '
          'Use fewer levels or `pad_to` (e.g. 32).')
    self._image_shape = image_shape
    self._model_shape = model_shape
    self._num_levels = num_levels
    self._n_bits = n_bits
    self._coupling = coupling
    self._pad_to = pad_to
    self._dtype = dtype
    self.config = dict(
        image_shape=image_shape, num_levels=num_levels,
        num_steps_per_level=num_steps_per_level,
        hidden_channels=hidden_channels, coupling=coupling, pad_to=pad_to,
        n_bits=n_bits, seed=seed)
    with self.name_scope:
      self._flow = build_glow_bijector(
          model_shape, num_levels, num_steps_per_level, hidden_channels,
          coupling, seed, dtype, conv_implementation=conv_implementation)
      # Data live in [0, 1]; the flow works on images centred on 0.
      self.bijector = fb.Chain([tfb.Shift(tf.constant(0.5, dtype)),
                                 self._flow], name='glow_bijector')
      self.distribution = tfd.TransformedDistribution(
          tfd.Sample(tfd.Normal(tf.constant(0., dtype), 1.), model_shape),
          self.bijector, name='glow_distribution')
    self._squeeze = fb.Squeeze()
    self._compiled = compiled.BatchedFunctions(dtype)

  # -- Interface properties -------------------------------------------------

  @property
  def image_shape(self):
    return list(self._image_shape)

  @property
  def pad_to(self):
    """Side of the zero-padded canvas, or None (no padding)."""
    return self._pad_to

  @property
  def model_shape(self):
    """`[H', W', C]` the flow models (after padding)."""
    return list(self._model_shape)

  @property
  def n_bits(self):
    return self._n_bits

  @property
  def num_levels(self):
    return self._num_levels

  @property
  def num_model_subpixels(self):
    return int(np.prod(self._model_shape))

  @property
  def latent_shapes(self):
    """Shapes of the per-level latents, finest first (the paper's z_1..z_L)."""
    height, width, channels = self._model_shape
    shapes = []
    for level in range(self._num_levels):
      height, width, channels = height // 2, width // 2, channels * 4
      if level < self._num_levels - 1:
        shapes.append([height, width, channels - channels // 2])
        channels //= 2
      else:
        shapes.append([height, width, channels])
    return shapes

  @property
  def actnorms(self):
    return [m for m in self.submodules if isinstance(m, fb.ActNorm)]

  @property
  def is_initialized(self):
    """Whether every ActNorm has had its data-dependent initialisation."""
    return all(a.is_initialized for a in self.actnorms)

  # -- Padding ---------------------------------------------------------------

  def _paddings(self):
    height, width, _ = self._image_shape
    top = (self._model_shape[0] - height) // 2
    left = (self._model_shape[1] - width) // 2
    return top, left

  def _pad(self, x):
    if self._pad_to is None:
      return x
    top, left = self._paddings()
    bottom = self._model_shape[0] - self._image_shape[0] - top
    right = self._model_shape[1] - self._image_shape[1] - left
    rank = x.shape.rank
    paddings = [[0, 0]] * (rank - 3) + [[top, bottom], [left, right], [0, 0]]
    return tf.pad(x, paddings)

  def _crop(self, x):
    if self._pad_to is None:
      return x
    top, left = self._paddings()
    height, width, _ = self._image_shape
    return x[..., top:top + height, left:left + width, :]

  def log_prob_unchecked(self, images, seed, num_samples=1):
    """`log_prob` without validation or compilation, for use in a `tf.function`.

    Args:
      images: integer-valued `Tensor` `[..., H, W, C]` (any int/float dtype),
        assumed valid.
      seed: int32 `Tensor` `[2]`, stateless seed of the dequantisation noise
        (with `num_samples=1` it is used as is, matching `encode`).
      num_samples: Python `int` K of dequantisation draws.

    Returns:
      Float `Tensor` `[...]`, nats per image.
    """
    seeds = (tf.expand_dims(seed, 0) if num_samples == 1 else
             tf.random.experimental.stateless_split(seed, num_samples))
    offset = self.num_model_subpixels * math.log(self._bins)
    draws = [self.distribution.log_prob(
        self.dequantized_canvas(images, seeds[k])) - offset
             for k in range(num_samples)]
    if num_samples == 1:
      return draws[0]
    return tf.reduce_logsumexp(tf.stack(draws), axis=0) - math.log(num_samples)

  def dequantized_canvas(self, images, seed):
    """The continuous input the flow scores for integer `images`.

    Cast to the model dtype, padded to `pad_to`, then dequantised with
    `seed` used as is: what `log_prob_unchecked` scores for each draw (and
    `glow_levels.level_log_probs` splits by level).

    Args:
      images: integer-valued `Tensor` `[..., H, W, C]`, assumed valid.
      seed: int32 `Tensor` `[2]`, stateless seed of the uniform noise.

    Returns:
      Float `Tensor` `[..., H', W', C]` (the padded shape) in `[0, 1)`.
    """
    return discrete.dequantize(self._pad(tf.cast(images, self._dtype)),
                               self._n_bits, seed, self._dtype)

  # -- Likelihoods ----------------------------------------------------------

  def log_prob(self, images, seed=None, num_samples=1):
    """Discrete log-likelihood of integer images under uniform dequantisation.

    Args:
      images: uint8 (or integer-valued float) `[..., H, W, C]` in
        `[0, 2**n_bits - 1]`.
      seed: `None` (fresh noise), an `int`, or a pair: the dequantisation
        noise, so results are reproducible given a seed.
      num_samples: Python `int` K of dequantisation draws. With K > 1 the
        result is `log mean_k P_k`, an importance-weighted estimate whose
        bound tightens towards log P(x) as K grows. Default value: `1`.

    Returns:
      Float `Tensor` of shape `[...]`: nats per image.

    Raises:
      ValueError: wrong shape, out-of-range or non-integer values (in a
        `tf.function`: `tf.errors.InvalidArgumentError` when run; see
        `discrete.check_images`). `log_prob_unchecked` is the unchecked path.
      TypeError, ValueError: `num_samples` is not a positive integer.
    """
    num_samples = positive_int(num_samples, 'num_samples')
    images = discrete.check_images(images, self._image_shape, self._n_bits)
    return self._compiled.call(
        ('log_prob', num_samples),
        lambda x, s: self.log_prob_unchecked(x, s, num_samples),
        images, _seed_tensor(seed))

  def log_density(self, y):
    """Continuous log-density of images scaled to `[0, 1]`, nats per image.

    This is the density the paper evaluates for its noise experiment (no
    re-quantisation). It relates to `log_prob` by
    `log P(x) ~= log_density((x + u) / 2**n_bits) - D_model * log(2**n_bits)`.
    With `pad_to`, the border is filled with 0.

    Args:
      y: float `[..., H, W, C]`, values nominally in `[0, 1]` (not checked:
        noise may take them slightly outside).

    Returns:
      Float `Tensor` `[...]`: log-density in nats w.r.t. Lebesgue measure on
      `[0, 1]^D_model`.

    Raises:
      TypeError: `y` is not float (e.g. uint8 grey levels).
    """
    # One compiled function serves this and `log_density_and_latents`, so
    # the two give bit-identical densities (a SIT that leaves an image
    # unchanged must change its score by exactly 0) and trace once.
    return self.log_density_and_latents(y)[0]

  def _check_continuous(self, y):
    dtype = (y.dtype if tf.is_tensor(y) or isinstance(y, np.ndarray)
             else np.asarray(y).dtype)
    if not tf.as_dtype(dtype).is_floating:
      # Grey levels here would be read as values ~255 times too large.
      raise TypeError(
          f'`y` must be float images scaled to [0, 1]; got dtype '
          f'{tf.as_dtype(dtype).name}. For integer grey levels use '
          '`log_prob` (or divide by 2**n_bits).')
    y = tf.convert_to_tensor(y, self._dtype)
    if y.shape.rank is None or y.shape[-3:].as_list() != self._image_shape:
      raise ValueError(f'`y` must have shape [..., '
                       f'{list(self._image_shape)}]; got '
                       f'{y.shape}.')
    return y

  def log_density_and_latents(self, y):
    """`log_density(y)` and the per-level latents of `y`, from one pass.

    Args:
      y: float `[..., H, W, C]`, as for `log_density`.

    Returns:
      `(log_density, latents)`: float `Tensor` `[...]` in nats (equal to
      `log_density(y)` up to float rounding) and the list of L latents
      `[..., h_l, w_l, c_l]`, finest first, that the flow maps `y` to. For
      `y = (x + 0.5) / 2**n_bits` without `pad_to` these are
      `encode(x, dequantize=False)`; with `pad_to` they differ in the
      border, which `log_density` fills with 0 and `encode` with level 0's
      bin centre.
    """
    y = self._check_continuous(y)

    def body(v):
      padded = self._pad(v)
      z = self.bijector.inverse(padded)
      log_density = (self.distribution.distribution.log_prob(z) +
                     self.bijector.inverse_log_det_jacobian(padded,
                                                            event_ndims=3))
      return log_density, self.split_latents(z)
    return self._compiled.call('log_density_latents', body, y)

  # -- Latents --------------------------------------------------------------

  def split_latents(self, z):
    """Full base-space tensor `[..., H', W', C]` -> per-level latents, finest first."""
    latents = []
    current = z
    for level in range(self._num_levels):
      squeezed = self._squeeze.forward(current)
      if level == self._num_levels - 1:
        latents.append(squeezed)
      else:
        channels = squeezed.shape[-1]
        kept, exited = tf.split(
            squeezed, [channels // 2, channels - channels // 2], axis=-1)
        latents.append(exited)
        current = kept
    return latents

  def merge_latents(self, latents):
    """Inverse of `split_latents`."""
    if len(latents) != self._num_levels:
      raise ValueError(f'Expected {self._num_levels} latents (one per level); '
                       f'got {len(latents)}.')
    latents = [tf.convert_to_tensor(z, self._dtype) for z in latents]
    for z, shape in zip(latents, self.latent_shapes):
      if z.shape[-3:].as_list() != shape:
        raise ValueError(f'Latent shapes must be {self.latent_shapes}; got '
                         f'{[l.shape.as_list() for l in latents]}.')
    current = self._squeeze.inverse(latents[-1])
    for exited in reversed(latents[:-1]):
      current = self._squeeze.inverse(tf.concat([current, exited], axis=-1))
    return current

  def encode(self, images, seed=None, dequantize=True):
    """Per-level latents of images, in the standard-normal base space.

    With `dequantize=True` the images are dequantised first, as in
    `log_prob`: the flow sees `(x + u) / 2**n_bits`, u ~ U[0, 1). With
    `dequantize=False` it sees the bin centres `(x + 0.5) / 2**n_bits`
    exactly (no noise), so the latents are a deterministic function of `x`
    and `decode` of them returns `x + 0.5` in pixel units (e.g. the paper's
    latent-zeroing experiment). With `pad_to`, the border is encoded as
    grey level 0 the same way.

    Args:
      images: integer images `[..., H, W, C]` (as for `log_prob`).
      seed: dequantisation seed (as for `log_prob`); unused when
        `dequantize=False`.
      dequantize: Python `bool`, add uniform dequantisation noise. Default
        value: `True`.

    Returns:
      List of L float `Tensor`s `[..., h_l, w_l, c_l]` (see `latent_shapes`),
      finest level first: the paper's z_1 .. z_L.
    """
    if not isinstance(dequantize, bool):
      raise TypeError(f'`dequantize` must be a bool; got {dequantize!r}.')
    images = discrete.check_images(images, self._image_shape, self._n_bits)
    if not dequantize:
      def centre(x):
        y = ((self._pad(tf.cast(x, self._dtype)) + discrete.BIN_CENTRE)
             / float(self._bins))
        return self.split_latents(self.bijector.inverse(y))
      return self._compiled.call('encode_centre', centre, images)

    def body(x, s):
      return self.split_latents(self.bijector.inverse(
          self.dequantized_canvas(x, s)))
    return self._compiled.call('encode', body, images, _seed_tensor(seed))

  def decode(self, latents):
    """Continuous images in pixel units (`[0, 2**n_bits)`) from per-level latents.

    `decode(encode(x, seed))` returns the dequantised `x + u`.

    Returns:
      Float `Tensor` `[..., H, W, C]`.
    """
    z = self.merge_latents(latents)

    def body(z):
      return self._crop(self.bijector.forward(z)) * float(self._bins)
    return self._compiled.call('decode', body, z)

  def sample(self, n, temperature=1.0, seed=None):
    """Draws `n` images at a temperature (latent std); uint8 if n_bits <= 8.

    Returns:
      `[n, H, W, C]` integer images (values floored and clipped).
    """
    n = positive_int(n, 'n')
    if not temperature > 0:
      raise ValueError(f'`temperature` must be positive; got {temperature!r}.')
    z = tf.random.stateless_normal([n] + self._model_shape, _seed_tensor(seed),
                                   dtype=self._dtype) * temperature
    pixels = self._compiled.call(
        'sample', lambda z: self._crop(self.bijector.forward(z)), z)
    pixels = tf.clip_by_value(tf.floor(pixels * float(self._bins)), 0.,
                              float(self._bins - 1))
    return tf.cast(pixels, tf.uint8 if self._n_bits <= 8 else tf.int32)

  # -- Initialisation --------------------------------------------------------

  def initialize(self, images, seed=0, strategy=None):
    """ActNorm data-dependent initialisation from a batch of images.

    Runs one normalising pass over `images`; each ActNorm that is not yet
    initialised sets itself so its output has zero mean and unit variance
    per channel. A no-op on an initialised (e.g. restored) model.

    Args:
      images: integer images `[N, H, W, C]`, e.g. a few hundred training
        images. Under a strategy this is the *global* batch (the same on
        every worker); each replica takes an equal slice and the statistics
        are all-reduced, so the result equals the single-device one.
      seed: dequantisation seed.
      strategy: optional `tf.distribute.Strategy` whose scope holds the model.

    Returns:
      Python `bool`: whether any ActNorm was initialised.
    """
    images = discrete.check_images(images, self._image_shape, self._n_bits)
    y = self.dequantized_canvas(images, _seed_tensor(seed))
    with fb.data_dependent_init(self.bijector) as pending:
      if not pending:
        return False
      replicas = 1 if strategy is None else strategy.num_replicas_in_sync
      if replicas == 1:
        self.bijector.inverse(y)
      else:
        if y.shape[0] % replicas:
          raise ValueError(f'The initialisation batch ({y.shape[0]} images) '
                           f'must divide evenly over {replicas} replicas.')
        per_replica = y.shape[0] // replicas

        def slice_for(ctx):
          start = ctx.replica_id_in_sync_group * per_replica
          return y[start:start + per_replica]
        values = strategy.experimental_distribute_values_from_function(
            slice_for)
        # Traced while the init flags are set; collectives need a graph.
        strategy.run(tf.function(self.bijector.inverse, autograph=False),
                     args=(values,))
    return True
