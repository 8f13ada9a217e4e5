"""Channel couplings: Glow's affine/additive coupling and its shared base."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import _tfp_private
from tfp_flows.bijectors import _validation
from tfp_flows.bijectors import conditioners
from tfp_flows.bijectors import identity_hashing
from tfp_flows.utils.validation import positive_int

__all__ = ['AffineCoupling', 'ChannelCoupling', 'check_coupling_channels']


def check_coupling_channels(num_channels):
  """Returns `num_channels` as an `int`: a coupling splits at least 2.

  Raises:
    TypeError, ValueError: see `tfp_flows.utils.validation.positive_int`;
      also `ValueError` for 1 channel.
  """
  num_channels = positive_int(num_channels, 'num_channels')
  if num_channels < 2:
    raise ValueError('`num_channels` must be at least 2 for a coupling; got '
                     f'{num_channels}.')
  return num_channels


class ChannelCoupling(identity_hashing.IdentityHashed,
                      _shapes.ChannelPreservingEventShape, tfb.Bijector):
  """Base: the last `C - C//2` channels get an affine map conditioned on the first `C//2`.

  With `a = x[..., :C//2]` (passed through unchanged) and `b` the rest,
  subclasses define `shift(a)` and `log_scale(a)` (or no scale) for the
  normalising direction:

  ```none
  inverse (normalising):  z_b = (x_b - shift(a)) * exp(log_scale(a))
  forward (generative):   x_b = z_b * exp(-log_scale(a)) + shift(a)
  inverse_log_det_jacobian = sum(log_scale(a))              (nats)
  ```

  The conditioner runs once per call: the transform and its log-det come from
  the same pass, and the log-det is kept in the bijector cache.

  The split sizes are `[C//2, C - C//2]`; the conditioner must return
  `[N, H, W, k * (C - C//2)]` for the subclass's `k`. Channel counts and
  static spatial sizes are always checked (`ValueError`). With
  `validate_args=True` every call also asserts at run time that the
  conditioner's output has the input's batch and spatial size, and that the
  shift and log-scale it gives are finite with `exp(+-log_scale)` finite and
  non-zero (not invertible otherwise); a failure raises
  `tf.errors.InvalidArgumentError`.
  """

  # FFJORD's pattern: a cache that stores the log-det computed alongside the
  # transform, so the conditioner network runs once per pass instead of once
  # for the transform and again for the log-det.
  _cache = _tfp_private.BijectorCacheWithGreedyAttrs(
      forward_name='_augmented_forward', inverse_name='_augmented_inverse')

  def __init__(self, num_channels, conditioner, validate_args, parameters,
               dtype, name):
    num_channels = check_coupling_channels(num_channels)
    self._num_channels = num_channels
    self._num_conditioning = num_channels // 2
    self._conditioner = conditioner
    super().__init__(forward_min_event_ndims=3, validate_args=validate_args,
                     parameters=parameters, dtype=dtype, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # The conditioner's weights are variables, not batch-shaped parameters.
    return dict()

  @property
  def num_channels(self):
    return self._num_channels

  @property
  def conditioner(self):
    return self._conditioner

  @property
  def num_transformed(self):
    return self._num_channels - self._num_conditioning

  def _shift_and_log_scale(self, conditioning):
    """Returns `(shift, log_scale or None)` for `[N, H, W, C//2]` input."""
    raise NotImplementedError

  def _run_conditioner(self, conditioning, num_outputs):
    """The conditioner's output, checked to be `[N, H, W, num_outputs]`.

    Args:
      conditioning: `[N, H, W, C//2]` tensor.
      num_outputs: Python `int`, the channels the subclass needs.

    Returns:
      The conditioner's `[N, H, W, num_outputs]` output, after run-time
      assertions on its shape when `validate_args`.

    Raises:
      ValueError: the static rank, spatial size or channel count is wrong.
        A wrong spatial size would otherwise broadcast silently (e.g. a
        `[N, 1, 1, k]` output against `[N, H, W, k]`).
    """
    out = self._conditioner(conditioning)
    if out.shape.rank is not None and out.shape.rank != 4:
      raise ValueError(
          f'{self.name}: the conditioner returned shape {out.shape} for '
          f'input {conditioning.shape}; expected rank 4 [N, H, W, '
          f'{num_outputs}].')
    if out.shape[-1] != num_outputs:
      raise ValueError(
          f'{self.name}: the conditioner returned {out.shape[-1]} channels '
          f'where {num_outputs} were expected; check that '
          '`conditioner_fn(input_channels, output_channels, name)` honours '
          '`output_channels`.')
    if not out.shape[:3].is_compatible_with(conditioning.shape[:3]):
      raise ValueError(
          f'{self.name}: the conditioner returned shape {out.shape} for '
          f'input {conditioning.shape}; its batch and spatial sizes must '
          'equal the input\'s (\'same\' padding, stride 1).')
    if self.validate_args:
      out, = _validation.with_dependencies([tf.debugging.assert_equal(
          tf.shape(out)[:3], tf.shape(conditioning)[:3],
          message=(f'{self.name}: the conditioner\'s output batch and '
                   'spatial sizes differ from its input\'s'))], out)
    return out

  def _validated(self, shift, log_scale):
    """`(shift, log_scale)` after run-time checks when `validate_args`."""
    if not self.validate_args:
      return shift, log_scale
    assertions = _validation.assert_finite(
        shift, f'{self.name}: the conditioner gave a non-finite shift')
    if log_scale is not None:
      assertions += _validation.assert_invertible_log_scale(
          log_scale, f'{self.name}: the conditioner\'s log-scale')
    return _validation.with_dependencies(assertions, shift, log_scale)

  def _split_and_condition(self, x):
    _shapes.check_channels(x, self._num_channels, self.name)
    x4, batch = _shapes.flatten_batch(x)
    a, b = tf.split(x4, [self._num_conditioning, self.num_transformed], axis=-1)
    shift, log_scale = self._validated(*self._shift_and_log_scale(a))
    if log_scale is None:
      ildj = tf.zeros(tf.shape(x4)[:1], x4.dtype)
    else:
      ildj = tf.reduce_sum(log_scale, axis=[1, 2, 3])
    ildj = tf.reshape(ildj, batch)
    return a, b, shift, log_scale, batch, ildj

  def _augmented_inverse(self, y):
    a, b, shift, log_scale, batch, ildj = self._split_and_condition(y)
    z_b = b - shift
    if log_scale is not None:
      z_b = z_b * tf.exp(log_scale)
    x = _shapes.unflatten_batch(tf.concat([a, z_b], axis=-1), batch)
    return x, {'ildj': ildj}

  def _augmented_forward(self, x):
    a, b, shift, log_scale, batch, ildj = self._split_and_condition(x)
    if log_scale is not None:
      b = b * tf.exp(-log_scale)
    y = _shapes.unflatten_batch(tf.concat([a, b + shift], axis=-1), batch)
    return y, {'ildj': ildj}

  def _forward(self, x):
    return self._augmented_forward(x)[0]

  def _inverse(self, y):
    return self._augmented_inverse(y)[0]

  def _inverse_log_det_jacobian(self, y):
    self.inverse(y)  # Fills the cached attributes of this edge.
    return self._cache.inverse_attributes(y)['ildj']

  def _forward_log_det_jacobian(self, x):
    self.forward(x)
    return -self._cache.forward_attributes(x)['ildj']


class AffineCoupling(ChannelCoupling):
  """Glow's affine coupling (or its additive variant) on event shape `[H, W, C]`.

  The conditioner maps the first `C//2` channels `a` to `[shift, raw]`, and

  ```none
  inverse (normalising):  z_b = (x_b + shift) * sigmoid(raw + 2)
  forward (generative):   x_b = z_b / sigmoid(raw + 2) - shift
  inverse_log_det_jacobian = sum(log sigmoid(raw + 2))        (nats)
  ```

  The sigmoid keeps scales in (0, 1) in the normalising direction, which is
  stabler than `exp` (an exp scale can grow without bound in training). With
  `additive=True` the conditioner outputs only `shift` and the map is
  volume preserving (log-det 0), as in the paper's additive Glow.

  #### References
  [1]: Kingma & Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018.
  """

  def __init__(self, num_channels, conditioner_fn=None, additive=False,
               validate_args=False, dtype=tf.float32, name='affine_coupling'):
    """Builds the bijector.

    Args:
      num_channels: Python `int` C >= 2.
      conditioner_fn: factory `(input_channels, output_channels, name) ->
        callable` (see `tfp_flows.bijectors.conditioners`). Default value:
        `glow_conditioner_factory(hidden_channels=512)`.
      additive: Python `bool`; shift only (log-det 0). Default value: `False`.
      validate_args: Python `bool`: run-time checks of the conditioner's
        output (see `ChannelCoupling`). Default value: `False` (no
        assertion ops).
      dtype: float dtype.
      name: Python `str`.
    """
    parameters = dict(locals())
    num_channels = check_coupling_channels(num_channels)
    if not isinstance(additive, bool):
      raise TypeError(f'`additive` must be a bool; got {additive!r}.')
    if conditioner_fn is None:
      conditioner_fn = conditioners.glow_conditioner_factory(dtype=dtype)
    if not callable(conditioner_fn):
      raise TypeError('`conditioner_fn` must be a callable factory '
                      f'(input_channels, output_channels, name); got '
                      f'{conditioner_fn!r}.')
    with tf.name_scope(name) as name:
      self._additive = additive
      transformed = num_channels - num_channels // 2
      conditioner = conditioner_fn(
          num_channels // 2, transformed if additive else 2 * transformed,
          name='conditioner')
      super().__init__(num_channels, conditioner, validate_args, parameters,
                       dtype, name)

  @property
  def additive(self):
    return self._additive

  def _shift_and_log_scale(self, conditioning):
    out = self._run_conditioner(
        conditioning, self.num_transformed * (1 if self._additive else 2))
    if self._additive:
      return -out, None
    shift, raw = tf.split(out, 2, axis=-1)
    return -shift, tf.math.log_sigmoid(raw + 2.)
