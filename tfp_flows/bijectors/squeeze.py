"""Squeeze: 2x2 space-to-depth as a volume-preserving bijector."""

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import identity_hashing

__all__ = ['Squeeze']


class Squeeze(identity_hashing.IdentityHashed, tfb.Bijector):
  """Space-to-depth with block size `factor`: `[H, W, C] -> [H/f, W/f, f*f*C]`.

  `forward` is `tf.nn.space_to_depth`, `inverse` is `tf.nn.depth_to_space`;
  both only move values, so the log-det is zero. In a generative chain
  (latent -> image) it appears as `tfb.Invert(Squeeze())`.
  """

  def __init__(self, factor=2, validate_args=False, name='squeeze'):
    """Builds the bijector.

    Args:
      factor: Python `int` block size (>= 2). Default value: `2`.
      validate_args: Python `bool`.
      name: Python `str`.
    """
    parameters = dict(locals())
    _shapes.check_positive_int(factor, 'factor')
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

  def _check_spatial(self, shape, what):
    height, width = shape[-3], shape[-2]
    f = self._factor
    if (height is not None and height % f) or (width is not None and width % f):
      raise ValueError(
          f'{self.name}: {what} height and width must be divisible by '
          f'{f}; got event shape {list(shape[-3:])}.')

  def _forward(self, x):
    self._check_spatial(x.shape, 'input')
    x4, batch = _shapes.flatten_batch(x)
    return _shapes.unflatten_batch(tf.nn.space_to_depth(x4, self._factor), batch)

  def _inverse(self, y):
    channels = _shapes.static_event_shape(y, 'y')[-1]
    if channels % (self._factor ** 2):
      raise ValueError(
          f'{self.name}: inverse input channels must be divisible by '
          f'{self._factor ** 2}; got {channels}.')
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
    h, w, c = output_shape[-3:]
    f = self._factor
    return output_shape[:-3].concatenate(
        [None if h is None else h * f, None if w is None else w * f,
         None if c is None else c // (f * f)])

  def _forward_event_shape_tensor(self, input_shape):
    f = self._factor
    return tf.concat([input_shape[:-3], input_shape[-3:-1] // f,
                      input_shape[-1:] * f * f], axis=0)

  def _inverse_event_shape_tensor(self, output_shape):
    f = self._factor
    return tf.concat([output_shape[:-3], output_shape[-3:-1] * f,
                      output_shape[-1:] // (f * f)], axis=0)
