"""Shape helpers shared by the image bijectors (event shape [H, W, C])."""

import tensorflow as tf

__all__ = [
    'batch_shape_of', 'flatten_batch', 'static_event_shape', 'unflatten_batch',
    'zeros_for_batch', 'check_channels',
    'check_channels_of_shape', 'ChannelPreservingEventShape',
]


def static_event_shape(x, name='x'):
  """Returns the static `[H, W, C]` of `x` as Python ints.

  The image bijectors need the event shape at graph-construction time because
  convolutions and channel splits are sized from it.
  """
  if x.shape.rank is None or x.shape.rank < 3:
    raise ValueError(f'`{name}` must have shape [..., H, W, C]; got {x.shape}.')
  event = x.shape[-3:]
  if not event.is_fully_defined():
    raise ValueError(
        f'`{name}` must have a static event shape [H, W, C]; got {x.shape}.')
  return event.as_list()


def batch_shape_of(x):
  """The batch shape of an image tensor: static list when known, else a tensor."""
  batch = x.shape[:-3]
  if batch.is_fully_defined():
    return batch.as_list()
  return tf.shape(x)[:-3]


def flatten_batch(x):
  """Reshapes `[..., H, W, C]` to `[N, H, W, C]` for 4-D ops (conv2d, space_to_depth).

  Returns:
    x4: the reshaped tensor.
    batch_shape: what `unflatten_batch` needs to restore the batch dims.
  """
  event = static_event_shape(x)
  return tf.reshape(x, [-1] + event), batch_shape_of(x)


def unflatten_batch(y4, batch_shape):
  """Inverse of `flatten_batch` for a `[N, H', W', C']` tensor."""
  event = y4.shape[1:].as_list()
  if isinstance(batch_shape, list):
    return tf.reshape(y4, batch_shape + event)
  return tf.reshape(y4, tf.concat([batch_shape, event], axis=0))


def zeros_for_batch(x, dtype):
  """A zero log-det of shape batch_shape(x)."""
  return tf.zeros(batch_shape_of(x), dtype=dtype)


def check_channels(x, num_channels, name):
  """Checks the channel count of an input against the constructor's."""
  channels = static_event_shape(x)[-1]
  if channels != num_channels:
    raise ValueError(
        f'{name}: input has {channels} channels but the bijector was built '
        f'for `num_channels={num_channels}` (shape {x.shape}).')


def check_channels_of_shape(shape, num_channels, name):
  """Static check of an event shape `[..., H, W, C]` against `num_channels`.

  Args:
    shape: `tf.TensorShape` (or list) of an input; unknown rank or channels
      pass (nothing to check statically).
    num_channels: Python `int`, the bijector's C.
    name: the bijector's name, for the message.

  Returns:
    `shape` as a `tf.TensorShape`.

  Raises:
    ValueError: the rank is known and below 3, or C is known and differs.
  """
  shape = tf.TensorShape(shape)
  if shape.rank is None:
    return shape
  if shape.rank < 3:
    raise ValueError(f'{name}: event shape must be [..., H, W, C]; got '
                     f'{shape}.')
  if shape[-1] is not None and shape[-1] != num_channels:
    raise ValueError(
        f'{name}: event shape {shape} has {shape[-1]} channels but the '
        f'bijector was built for `num_channels={num_channels}`.')
  return shape


class ChannelPreservingEventShape:
  """Mixin (before `tfb.Bijector` in the bases) for `[H, W, C] -> [H, W, C]`.

  Checks event shapes given to `forward_event_shape` & co. against the
  bijector's `num_channels`: statically (`ValueError`) always, and at run
  time (`tf.debugging` assertion) with `validate_args=True`. The default
  `tfb.Bijector` methods would pass any shape through unchecked.
  """

  def _check_shape(self, shape):
    return check_channels_of_shape(shape, self.num_channels, self.name)

  def _check_shape_tensor(self, shape):
    if not self.validate_args:
      return shape
    shape = tf.convert_to_tensor(shape)
    with tf.control_dependencies([
        tf.debugging.assert_greater_equal(
            tf.size(shape), 3,
            message=f'{self.name}: event shape must be [..., H, W, C]'),
        tf.debugging.assert_equal(
            shape[-1], tf.cast(self.num_channels, shape.dtype),
            message=(f'{self.name}: event shape has the wrong number of '
                     f'channels; the bijector was built for '
                     f'`num_channels={self.num_channels}`')),
    ]):
      return tf.identity(shape)

  def _forward_event_shape(self, input_shape):
    return self._check_shape(input_shape)

  def _inverse_event_shape(self, output_shape):
    return self._check_shape(output_shape)

  def _forward_event_shape_tensor(self, input_shape):
    return self._check_shape_tensor(input_shape)

  def _inverse_event_shape_tensor(self, output_shape):
    return self._check_shape_tensor(output_shape)
