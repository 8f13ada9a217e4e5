"""Squeeze: 2x2 space-to-depth as a volume-preserving bijector."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import _validation
from tfp_flows.bijectors import identity_hashing
from tfp_flows.utils.validation import positive_int

__all__ = ['Squeeze']


class Squeeze(identity_hashing.IdentityHashed, tfb.Bijector):
  """Space-to-depth with block size `factor`: `[H, W, C] -> [H/f, W/f, f*f*C]`.

  `forward` is `tf.nn.space_to_depth`, `inverse` is `tf.nn.depth_to_space`;
  both only move values, so the log-det is zero. In a generative chain
  (latent -> image) it appears as `tfb.Invert(Squeeze())`.

  Inputs need a static event shape; `forward` requires H and W divisible by
  `factor` and `inverse` C divisible by `factor**2`, which is checked when
  the op is built (`ValueError`). Event shapes given as tensors
  (`forward_event_shape_tensor` & co.) can only be checked at run time,
  which `validate_args=True` does.
  """

  def __init__(self, factor=2, validate_args=False, name='squeeze'):
    """Builds the bijector.

    Args:
      factor: Python `int` block size (>= 2). Default value: `2`.
      validate_args: Python `bool`. When `True`,
        `forward_event_shape_tensor` asserts at run time that H and W are
        divisible by `factor`, and `inverse_event_shape_tensor` that C is
        divisible by `factor**2` (`tf.errors.InvalidArgumentError`). The
        same checks on static shapes raise `ValueError` whatever this flag.
        Default value: `False` (no assertion ops).
      name: Python `str`.
    """
    parameters = dict(locals())
    factor = positive_int(factor, 'factor')
    if factor < 2:
      raise ValueError(f'`factor` must be at least 2; got {factor}.')
    with tf.name_scope(name) as name:
      self._factor = factor
      super().__init__(
          forward_min_event_ndims=3, is_constant_jacobian=True,
          validate_args=validate_args, parameters=parameters, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict()

  @property
  def factor(self):
    return self._factor

  def _check_rank(self, shape):
    shape = tf.TensorShape(shape)
    if shape.rank is not None and shape.rank < 3:
      raise ValueError(f'{self.name}: event shape must be [..., H, W, C]; '
                       f'got {shape}.')
    return shape

  def _check_spatial(self, shape, what):
    shape = self._check_rank(shape)
    if shape.rank is None:
      return
    height, width = shape[-3], shape[-2]
    f = self._factor
    if (height is not None and height % f) or (width is not None and width % f):
      raise ValueError(
          f'{self.name}: {what} height and width must be divisible by '
          f'{f}; got event shape {list(shape[-3:])}.')

  def _check_depth(self, shape, what):
    shape = self._check_rank(shape)
    if shape.rank is None:
      return
    channels = shape[-1]
    if channels is not None and channels % (self._factor ** 2):
      raise ValueError(
          f'{self.name}: {what} channels must be divisible by '
          f'{self._factor ** 2}; got event shape {list(shape[-3:])}.')

  def _assert_divisible(self, values, divisor, message):
    """`values` after a run-time divisibility assertion when validating."""
    if not self.validate_args:
      return values
    return _validation.with_dependencies([tf.debugging.assert_equal(
        values % divisor, tf.zeros_like(values),
        message=f'{self.name}: {message}')], values)[0]

  def _forward(self, x):
    self._check_spatial(x.shape, 'input')
    x4, batch = _shapes.flatten_batch(x)
    return _shapes.unflatten_batch(tf.nn.space_to_depth(x4, self._factor), batch)

  def _inverse(self, y):
    _shapes.static_event_shape(y, 'y')
    self._check_depth(y.shape, 'inverse input')
    y4, batch = _shapes.flatten_batch(y)
    return _shapes.unflatten_batch(tf.nn.depth_to_space(y4, self._factor), batch)

  def _forward_log_det_jacobian(self, x):
    return _shapes.zeros_for_batch(x, x.dtype)

  def _forward_event_shape(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    self._check_spatial(input_shape, 'input')
    h, w, c = input_shape[-3:]
    f = self._factor
    return input_shape[:-3].concatenate(
        [None if h is None else h // f, None if w is None else w // f,
         None if c is None else c * f * f])

  def _inverse_event_shape(self, output_shape):
    output_shape = tf.TensorShape(output_shape)
    self._check_depth(output_shape, 'inverse input')
    h, w, c = output_shape[-3:]
    f = self._factor
    return output_shape[:-3].concatenate(
        [None if h is None else h * f, None if w is None else w * f,
         None if c is None else c // (f * f)])

  def _forward_event_shape_tensor(self, input_shape):
    f = self._factor
    spatial = self._assert_divisible(
        input_shape[-3:-1], f,
        f'input height and width must be divisible by {f}')
    return tf.concat([input_shape[:-3], spatial // f,
                      input_shape[-1:] * f * f], axis=0)

  def _inverse_event_shape_tensor(self, output_shape):
    f = self._factor
    channels = self._assert_divisible(
        output_shape[-1:], f * f,
        f'inverse input channels must be divisible by {f * f}')
    return tf.concat([output_shape[:-3], output_shape[-3:-1] * f,
                      channels // (f * f)], axis=0)
