"""PixelCNN++ as an `ImageDensityModel`, wrapping `tfd.PixelCNN`.

The likelihood is exact and discrete: `tfd.PixelCNN` factorises an image into
per-pixel conditionals in raster order, each a mixture of discretised
logistics over the integer grey levels (for C > 1 the channels of a pixel
share the mixture component and are coupled linearly). Two properties of TFP's
implementation shape this wrapper (both checked in `tests/test_pixelcnn.py`):

* The causal masks of the convolutions are Keras `kernel_constraint`s, which
  Keras applies only after an optimizer update. Freshly built kernels are
  unmasked, so the untrained network sees "future" pixels and its
  probabilities do not sum to one. `PixelCNN` applies the masks once when it
  is built (`apply_kernel_masks`); a `tf_keras` optimizer re-applies them
  after every step.
* `tfd.PixelCNN` builds its Keras network (creating the variables) in its
  constructor, but weight normalisation sets each layer's gain on the layer's
  first call. `PixelCNN` makes that call eagerly on a dummy batch at
  construction, so right after it the variables hold their initial values
  (for `trainable_variables`, optimizers and checkpoints) and every later
  call, compiled or not, is a plain forward pass.

Speed (`conv_implementation='fast'`, the default): the masked kernels are
mostly zeros (a 3x3 causal kernel has 6 or 4 live taps, a 4x4 stride-2 one 6
or 4 of 16), so the network is built with `masked_conv.BoxConv2D`, which
convolves only each mask's bounding box. Same variables and checkpoints,
same values up to float rounding; `'reference'` keeps TF's full
convolutions.
"""

import contextlib
import math

import numpy as np
import tensorflow as tf
import tf_keras
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors import conv_ops
from tfp_flows.models import base
from tfp_flows.models import compiled
from tfp_flows.models import discrete
from tfp_flows.models import masked_conv
from tfp_flows.utils.validation import positive_int

__all__ = ['PixelCNN']


class PixelCNN(base.ImageDensityModel, tf.Module):
  """PixelCNN++ (Salimans et al. 2017) over `n_bits` images, via `tfd.PixelCNN`.

  ```none
  log P(x) = sum_i log P(x_i | x_<i)        (nats per image, exact)
  bits/dim = -log P(x) / (D * ln 2),         D = H * W * C
  ```

  Each pixel's conditional is a mixture of `num_logistic_mix` logistics
  discretised to the integers `0 .. 2**n_bits - 1`: the mass of level `k` is
  the logistic mass on `[k - 1/2, k + 1/2]` in grey-level units, with the two
  end levels taking the tails. `distribution` is the `tfd.PixelCNN`; it is
  given the integer grey levels as float32 (`low=0`, `high=2**n_bits - 1`)
  and rescales them to `[-1, 1]` for its network itself.

  Training mode. The network has dropout; `log_prob_unchecked(images, seed,
  training=True)` is the training path (dropout on), everything else
  evaluates with `training=False`. `has_training_mode` is `True` so that a
  trainer can tell this model apart from ones whose `log_prob_unchecked`
  takes no `training` argument (e.g. `Glow`):

  ```python
  training = getattr(model, 'has_training_mode', False)
  kwargs = {'training': True} if training else {}
  log_p = model.log_prob_unchecked(images, seed, **kwargs)
  ```

  Causal masks. They are `kernel_constraint`s on the convolution kernels (see
  the module docstring): a `tf_keras` optimizer keeps them, as in
  `tfp_flows.training.make_train_step`. Any other update of the variables
  (another optimizer, manual `assign`) must be followed by
  `apply_kernel_masks()`, or the likelihood stops being normalised.

  #### Examples

  ```python
  model = PixelCNN(image_shape=[28, 28, 1], num_resnet=2, num_filters=64)
  train_steps(model, train_images, num_steps=1000)   # tfp_flows.training
  bpd = model.bits_per_dim(test_images)              # float32 [N]
  samples = model.sample(16, seed=0)  # uint8 [16, 28, 28, 1]; 784 passes
  ```
  """

  # Read by trainers: `log_prob_unchecked` takes `training=` (dropout).
  has_training_mode = True

  def __init__(self, image_shape=(28, 28, 1), num_resnet=2, num_hierarchies=2,
               num_filters=64, num_logistic_mix=5, dropout_p=0.5,
               use_weight_norm=True, n_bits=8, seed=0,
               conv_implementation='fast', name='pixelcnn'):
    """Builds the network, masks its kernels and initialises weight norm.

    Must run eagerly (it initialises weight normalisation with a call).

    Args:
      image_shape: `[H, W, C]` of the images; H and W must be divisible by
        `2**(num_hierarchies - 1)`. Default value: `(28, 28, 1)`.
      num_resnet: Python `int`, gated resnet layers per block. Default
        value: `2`.
      num_hierarchies: Python `int`, resolutions of the U-net (each further
        one halves H and W). Default value: `2` (28 -> 14).
      num_filters: Python `int`, channels of every convolution. Default
        value: `64`.
      num_logistic_mix: Python `int`, logistic components per subpixel.
        Default value: `5`.
      dropout_p: Python `float` in `[0, 1)`, dropout rate in the resnet
        layers, active only with `training=True`. Default value: `0.5`.
      use_weight_norm: Python `bool`, weight-normalise every layer. Default
        value: `True`.
      n_bits: Python `int` bits per subpixel, in `[1, 16]`. Default value: `8`.
      seed: Python `int`, seeds the initial kernels (Glorot uniform, as
        Keras would draw them). Default value: `0`.
      conv_implementation: `'fast'` (masked convolutions on their live taps
        only) or `'reference'` (TF's full convolutions); see the module
        docstring. Default value: `'fast'`.
      name: Python `str`. Default value: `'pixelcnn'`.

    Raises:
      ValueError: an argument is invalid; the message names it.
      TypeError: a count (`num_resnet` & co.) is not a number or is a bool.
    """
    image_shape = _check_image_shape(image_shape)
    num_resnet = positive_int(num_resnet, 'num_resnet')
    num_hierarchies = positive_int(num_hierarchies, 'num_hierarchies')
    num_filters = positive_int(num_filters, 'num_filters')
    num_logistic_mix = positive_int(num_logistic_mix, 'num_logistic_mix')
    if isinstance(dropout_p, bool) or not isinstance(
        dropout_p, (int, float)) or not 0. <= dropout_p < 1.:
      raise ValueError(f'`dropout_p` must be a float in [0, 1); got '
                       f'{dropout_p!r}.')
    if not isinstance(use_weight_norm, bool):
      raise ValueError(f'`use_weight_norm` must be a bool; got '
                       f'{use_weight_norm!r}.')
    bins = discrete.num_bins(n_bits)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
      raise ValueError(f'`seed` must be an integer; got {seed!r}.')
    conv_ops.check_implementation(conv_implementation)
    if not isinstance(name, str) or not name:
      raise ValueError(f'`name` must be a non-empty string; got {name!r}.')
    # The U-net halves H and W (with 'same' padding) num_hierarchies - 1
    # times and doubles them back; the skip connections only line up if every
    # halving is exact.
    divisor = 2 ** (num_hierarchies - 1)
    if image_shape[0] % divisor or image_shape[1] % divisor:
      raise ValueError(
          f'`num_hierarchies={num_hierarchies}` halves height and width '
          f'{num_hierarchies - 1} times, so they must be divisible by '
          f'{divisor}; got {image_shape[:2]}.')

    tf.Module.__init__(self, name=name)
    self._image_shape = image_shape
    self._n_bits = n_bits
    self._bins = bins
    self._dtype = tf.float32
    self.config = dict(
        image_shape=image_shape, num_resnet=num_resnet,
        num_hierarchies=num_hierarchies, num_filters=num_filters,
        num_logistic_mix=num_logistic_mix, dropout_p=float(dropout_p),
        use_weight_norm=use_weight_norm, n_bits=n_bits, seed=int(seed))
    building = (masked_conv.box_convolutions() if conv_implementation == 'fast'
                else contextlib.nullcontext())
    # The network's layers are created and first traced in here.
    with building:
      with self.name_scope:
        self.distribution = tfd.PixelCNN(
            image_shape=image_shape, num_resnet=num_resnet,
            num_hierarchies=num_hierarchies, num_filters=num_filters,
            num_logistic_mix=num_logistic_mix, dropout_p=float(dropout_p),
            use_weight_norm=use_weight_norm,
            # Data-dependent init would run on the dummy batch below (zeros
            # give zero variance and a huge gain); with it off, weight norm
            # starts at g = |v|, i.e. at the (masked) Glorot kernels.
            use_data_init=False,
            high=self._bins - 1, low=0, dtype=self._dtype,
            name='pixelcnn_distribution')
      self._seed_kernels(int(seed))
      # Before the first call: weight norm then sets g = |v| of masked kernels.
      self.apply_kernel_masks()
      self.distribution.log_prob(
          tf.zeros([1] + image_shape, self._dtype), training=False)
    self._compiled = compiled.BatchedFunctions(self._dtype)

  # -- Interface properties -------------------------------------------------

  @property
  def image_shape(self):
    return list(self._image_shape)

  @property
  def n_bits(self):
    return self._n_bits

  # -- Weights ----------------------------------------------------------------

  def _seed_kernels(self, seed):
    """Redraws every kernel (rank >= 2 variable) Glorot-uniformly from `seed`.

    Keras draws its initial kernels from the global RNG; redrawing them from
    per-kernel seeds makes a model a function of its `seed`. Biases start at
    zero and weight-norm gains are set by the first call, so only kernels
    carry randomness.
    """
    kernels = [v for v in self.distribution.network.trainable_variables
               if v.shape.rank >= 2]
    for index, kernel in enumerate(kernels):
      initializer = tf_keras.initializers.GlorotUniform(
          seed=(seed * 1000003 + index) % (2**31 - 1))
      kernel.assign(initializer(kernel.shape, dtype=kernel.dtype))

  def apply_kernel_masks(self):
    """Zeroes the masked kernel entries, making the network causal.

    TFP implements the causal masks as Keras kernel constraints, which only
    an optimizer applies (after its update). Call this after changing the
    variables any other way. Idempotent.
    """
    for variable in self.distribution.network.variables:
      if getattr(variable, 'constraint', None) is not None:
        variable.assign(variable.constraint(variable))

  # -- Likelihoods ----------------------------------------------------------

  def log_prob_unchecked(self, images, seed=None, training=False):
    """`log_prob` without validation or compilation, for use in a `tf.function`.

    Args:
      images: integer-valued `Tensor` `[..., H, W, C]` (any int/float dtype)
        in `[0, 2**n_bits - 1]`, assumed valid.
      seed: ignored; accepted for interface compatibility with models that
        dequantise (the PixelCNN likelihood is exact and deterministic). It
        does not control the dropout noise of `training=True`, which comes
        from Keras' stateful RNG.
      training: Python `bool`: dropout on (training path) or off.
        Default value: `False`.

    Returns:
      float32 `Tensor` `[...]`: log P(images), nats per image.
    """
    del seed  # Exact likelihood: nothing to draw.
    return self.distribution.log_prob(tf.cast(images, self._dtype),
                                      training=training)

  def log_prob(self, images, seed=None):
    """Exact discrete log-likelihood of integer images (dropout off).

    Args:
      images: uint8 (or integer-valued int/float) `[..., H, W, C]` in
        `[0, 2**n_bits - 1]`.
      seed: ignored (exact likelihood); kept for the common interface.

    Returns:
      float32 `Tensor` of shape `[...]`: nats per image.

    Raises:
      ValueError: wrong shape, out-of-range or non-integer values.
      TypeError: non-numeric images.
    """
    del seed
    images = discrete.check_images(images, self._image_shape, self._n_bits)
    return self._compiled.call(
        'log_prob', lambda x: self.log_prob_unchecked(x, None), images)

  def log_density(self, y):
    """Log-density of the uniformly dequantised model at `y` in `[0, 1]`.

    The model is discrete; as a density on `[0, 1]^D` this returns the one of
    `(x + u) / 2**n_bits`, x ~ PixelCNN, u ~ U[0, 1)^D, the convention under
    which `Glow.log_density` is trained, so the two are comparable:

    ```none
    k = min(floor(2**n_bits * y), 2**n_bits - 1)      (elementwise)
    log_density(y) = log P(k) + D * n_bits * ln 2     (nats per image)
    ```

    It is piecewise constant and integrates to one over `[0, 1]^D`. Both
    `x / 2**n_bits` and `x / (2**n_bits - 1)` map back to the integer image
    `x` (the latter exactly in float32 for `n_bits <= 8`), so at those points
    `log_density(y) = log_prob(x) + D * n_bits * ln 2`.

    Why `y` is quantised here rather than given to `tfd.PixelCNN` as
    `y * (2**n_bits - 1)`: for non-integer `v` its `log_prob` is neither a
    bin probability around `v` nor a density. The discretised logistic
    (`tfd.QuantizedDistribution`) floors `v`, so it returns the mass of the
    unit bin centred on `floor(v)`, i.e. `[floor(v) - 1/2, floor(v) + 1/2]`,
    which need not contain `v` (v = 3.9 is scored as level 3, not 4), while
    the network conditions the later pixels on the unfloored `v` (and, for
    C > 1, so does the linear coupling of a pixel's channels). The result is
    a step function of each pixel's own value mixed with a smooth function
    of its context, with no normalisation over `[0, 1]^D`.

    Args:
      y: float `[..., H, W, C]` with values in `[0, 1]`.

    Returns:
      float32 `Tensor` `[...]`: log-density in nats w.r.t. Lebesgue measure
      on `[0, 1]^D`.

    Raises:
      ValueError: wrong shape or (for concrete `y`) values outside `[0, 1]`.
      TypeError: `y` is not floating point.
    """
    y = self._float_images(y, 'float valued in [0, 1]')
    if tf.executing_eagerly() and tf.size(y) > 0:
      lo, hi = float(tf.reduce_min(y)), float(tf.reduce_max(y))
      # Outside the cube the dequantised density is 0 (log -inf); refusing
      # is clearer than silently clipping noisy inputs into the edge levels.
      if not (0. <= lo and hi <= 1.):
        raise ValueError(f'`y` values must be in [0, 1]; got min {lo}, max '
                         f'{hi}. Clip them first.')
    bins = float(self._bins)
    offset = self.num_subpixels * self._n_bits * math.log(2.)

    def body(v):
      levels = tf.minimum(tf.floor(v * bins), bins - 1.)
      return self.log_prob_unchecked(levels, None) + offset
    return self._compiled.call('log_density', body, y)

  def _conditioned_log_prob_unchecked(self, v):
    """`noisy_log_prob` on pixel values `v` (float32 `[N, H, W, C]`)."""
    return tf.reduce_sum(self._conditioned_pixel_log_probs_unchecked(v),
                         axis=[-2, -1])

  def _conditioned_pixel_log_probs_unchecked(self, v):
    """Each pixel's term of `noisy_log_prob` at values `v`: `[N, H, W]`."""
    dist = self.distribution
    low, high = 0., float(self._bins - 1)
    # The network sees the noisy values, rescaled as tfd.PixelCNN does.
    context = 2. * (v - low) / (high - low) - 1.
    params = dist.network(context, training=False)
    num_channels = self._image_shape[-1]
    if num_channels == 1:
      component_logits, locs, scales = params
    else:
      # tfd.PixelCNN couples a pixel's channel locations linearly to its
      # earlier channels' values; those values are the noisy ones too.
      component_logits, locs, scales, coeffs = params
      loc_parts = tf.split(locs, num_channels, axis=-1)
      coeff_parts = tf.split(coeffs, num_channels * (num_channels - 1) // 2,
                             axis=-1)
      channel_parts = [c[..., tf.newaxis, :] for c in
                       tf.split(context, num_channels, axis=-1)]
      used = 0
      for i in range(num_channels):
        for j in range(i):
          loc_parts[i] += channel_parts[j] * coeff_parts[used]
          used += 1
      locs = tf.concat(loc_parts, axis=-1)
    # pylint: disable-next=protected-access
    mixture = dist._make_mixture_dist(component_logits, locs, scales)
    # TFP's quantised logistic floors its argument; a value below 0 (above
    # 255) lies in level 0's (255's) tail bucket, so clipping the level
    # keeps the mass TFP assigns there instead of TFP's NaN.
    levels = tf.clip_by_value(tf.floor(v), low, high)
    # The Independent's inner distribution: one mixture per pixel (its
    # channels are the event), so the terms stay per pixel.
    return mixture.distribution.log_prob(levels)

  def pixel_log_probs(self, images):
    """Each pixel's conditional log-probability, log P(x_i | x_<i).

    The terms of the exact likelihood in raster order: they sum over H and W
    to `log_prob(images)` (up to float rounding). For C > 1 a pixel's
    channels share one term (their joint conditional). Used to see *where*
    in an image a score comes from (e.g. a likelihood ratio's map).

    Args:
      images: uint8 (or integer-valued int/float) `[..., H, W, C]` in
        `[0, 2**n_bits - 1]`.

    Returns:
      float32 `Tensor` `[..., H, W]`: nats per pixel.

    Raises:
      ValueError: wrong shape, out-of-range or non-integer values.
      TypeError: non-numeric images.
    """
    images = discrete.check_images(images, self._image_shape, self._n_bits)
    return self._compiled.call('pixel_log_probs',
                               self._conditioned_pixel_log_probs_unchecked,
                               images)

  def noisy_log_prob(self, y):
    """tfd.PixelCNN's score of a non-integer image, conditioned on its values.

    The paper explains PixelCNN's sensitivity to noise by its pixel-by-pixel
    modelling "propagating" the noise: the network sees the noisy pixels.
    This score computes exactly that, in nats per image:

    ```none
    v = 2**n_bits * y                       (pixel units: y = k / 256 -> k)
    noisy_log_prob(y) = sum_i log P_TFP(level_i | v_<i)
    level_i = clip(floor(v_i), 0, 2**n_bits - 1)
    ```

    `P_TFP(. | v_<i)` is the network's mixture of discretised logistics
    given the *unrounded* earlier values `v_<i` (and, for C > 1, the pixel's
    earlier channels' values), and each pixel's own term is the mass TFP's
    `QuantizedDistribution` assigns to `v_i`: it floors its argument, so
    `v_i` gets the mass of grey level `floor(v_i)`, the unit bin
    `[floor(v_i) - 1/2, floor(v_i) + 1/2]`. This is `tfd.PixelCNN.log_prob(v)`
    except below 0 (and above `2**n_bits - 1`), where TFP returns NaN and
    this returns the mass of the end level, whose tail bucket contains `v_i`.

    What it is not: a normalised density or a probability of anything. It is
    a product of probability masses of integer levels under contexts that no
    integer image has, so it does not integrate (or sum) to one over any set
    of `y`; it is a score. At integer images it is the discrete likelihood:
    `noisy_log_prob(x / 2**n_bits) == log_prob(x)` (tested). Compare
    `log_density`, which is a normalised (piecewise-constant) density of the
    dequantised model but quantises `y` before the network sees it, so noise
    below a grey level never reaches the conditioning context.

    Args:
      y: float `[..., H, W, C]` on the `[0, 1]` scale (any finite values;
        `k / 2**n_bits` is grey level k).

    Returns:
      float32 `Tensor` `[...]`: the score in nats per image. Divided by
      `-D ln 2` it is on the bits/dim scale of `log_prob`.

    Raises:
      ValueError: wrong shape or non-finite values.
      TypeError: `y` is not floating point.
    """
    y = self._float_images(y, 'float valued')
    if tf.executing_eagerly() and not bool(
        tf.reduce_all(tf.math.is_finite(y))):
      raise ValueError('`y` contains NaN or infinite values.')
    bins = float(self._bins)

    return self._compiled.call(
        'noisy_log_prob',
        lambda v: self._conditioned_log_prob_unchecked(v * bins), y)

  # -- Sampling ----------------------------------------------------------------

  def _float_images(self, y, requirement):
    """`y` as a float `Tensor` `[..., H, W, C]` of the model's dtype.

    Raises TypeError (integer grey levels would be read ~255 times too
    large) or ValueError (wrong shape); `requirement` completes the
    TypeError's "`y` must be ...".
    """
    y = tf.convert_to_tensor(y)
    if not y.dtype.is_floating:
      raise TypeError(f'`y` must be {requirement}; got dtype '
                      f'{y.dtype.name}.')
    y = tf.cast(y, self._dtype)
    if y.shape.rank is None or y.shape.rank < 3 or (
        y.shape[-3:].as_list() != self._image_shape):
      raise ValueError(f'`y` must have shape [..., '
                       f'{list(self._image_shape)}]; got {y.shape}.')
    return y

  def sample(self, n, seed=None):
    """Draws `n` images, one pixel at a time (H * W network evaluations).

    Slow: every pixel costs a full network pass over the batch (dropout
    off), in a compiled `tf.while_loop`.

    Args:
      n: Python `int` >= 1.
      seed: `None` or a Python `int`. TFP's sampler takes only stateful
        (op-level) seeds, so a seeded call traces a fresh graph, whose random
        ops restart from `seed`: the same `seed` gives the same images (given
        the global seed, `tf.random.set_seed`). With `None` the compiled
        graph is reused across calls (per `n`) and draws fresh images.

    Returns:
      `[n, H, W, C]` integer images, uint8 if `n_bits <= 8` else int32.
    """
    n = positive_int(n, 'n')
    if seed is not None and (isinstance(seed, bool) or not isinstance(
        seed, (int, np.integer))):
      raise ValueError(f'`seed` must be None or an int; got {seed!r}.')
    op_seed = None if seed is None else int(seed) % (2**31 - 1)

    def draw():
      return self.distribution.sample(n, seed=op_seed, training=False)
    if seed is None:
      sampler = self._compiled.cached(
          ('sample', n), lambda: tf.function(draw, autograph=False))
    else:
      sampler = tf.function(draw, autograph=False)
    pixels = tf.clip_by_value(tf.round(sampler()), 0., float(self._bins - 1))
    return tf.cast(pixels, tf.uint8 if self._n_bits <= 8 else tf.int32)


def _check_image_shape(image_shape):
  """`[H, W, C]` as a list of positive ints; else a ValueError naming it."""
  try:
    dims = list(image_shape)
  except TypeError:
    dims = None
  if (dims is None or len(dims) != 3 or any(
      isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0
      for d in dims)):
    raise ValueError('`image_shape` must be [H, W, C] of positive ints; got '
                     f'{image_shape!r}.')
  return [int(d) for d in dims]
