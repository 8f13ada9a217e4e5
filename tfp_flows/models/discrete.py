"""Discrete images: validation, uniform dequantisation and bits/dim.

All models in `tfp_flows` report the log-likelihood of an integer-valued image
in nats per image, and convert it to bits per dimension with `bits_per_dim`,
the one place where that conversion lives.

#### The two bits/dim definitions

A model that pads its input (a 3-level Glow on 28x28 images describes a
32x32 canvas whose border is 0) has two natural denominators. Both are
reported, everywhere a bits/dim appears:

```none
bits/dim                  = -log P(x) / (D  * ln 2),  D  = H * W * C of the
                                                      image (784 for 28x28)
bits/dim per model pixel  = -log P(x) / (D' * ln 2),  D' = H' * W' * C of the
                                                      model's input (1024 for
                                                      a 32x32 canvas)
```

`bits/dim` (per original pixel) is the default and compares models of any
padding on the same images. `bits/dim per model pixel` is the paper's
`h * w * c` of eq. 5 when its images are padded to 32x32. For an unpadded
model D' = D and the two agree. `log P(x)` is the same number in both (with
padding, `log P(x, border = 0)`); only the denominator differs, so
`bits/dim per model pixel = bits/dim * D / D'` (`per_model_pixel_factor`).
"""

import math

import numpy as np
import tensorflow as tf

from tfp_flows.utils.validation import positive_int

__all__ = ['BIN_CENTRE', 'bits_per_dim', 'check_images', 'dequantize',
           'num_bins', 'per_model_pixel_factor']

# Where in its bin `[x, x + 1)` an integer image is placed when it is mapped
# to a continuous value without dequantisation noise (e.g. Glow's
# `encode(dequantize=False)`, which ZeroLatents uses).
BIN_CENTRE = 0.5


def num_bins(n_bits):
  """The number of grey levels, `2**n_bits`."""
  if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not (
      1 <= n_bits <= 16):
    raise ValueError(f'`n_bits` must be an integer in [1, 16]; got {n_bits!r}.')
  return 2 ** n_bits


def bits_per_dim(log_likelihood_nats, num_subpixels):
  """Converts a log-likelihood in nats per image to bits per dimension.

  ```none
  bits/dim = -log p(x) / (D * ln 2)
  ```

  Args:
    log_likelihood_nats: float `Tensor` (or array), any shape: the discrete
      log-likelihood of each image in nats (already including the
      `-D * log(2**n_bits)` term of dequantisation).
    num_subpixels: Python `int` D, the number of modelled subpixels of one
      image (H * W * C of the image as given to the model).

  Returns:
    Float `Tensor` of the same shape, bits per dimension.
  """
  num_subpixels = positive_int(num_subpixels, 'num_subpixels')
  return -tf.convert_to_tensor(log_likelihood_nats) / (
      float(num_subpixels) * math.log(2.))


def per_model_pixel_factor(num_subpixels, num_model_subpixels):
  """`D / D'`: multiplies bits/dim into bits/dim per model pixel.

  See the module docstring for the two definitions.

  Args:
    num_subpixels: Python `int` D, subpixels of the image.
    num_model_subpixels: Python `int` D' >= D, subpixels of the model's
      (padded) input.

  Returns:
    Python `float` in `(0, 1]`.
  """
  num_subpixels = positive_int(num_subpixels, 'num_subpixels')
  num_model_subpixels = positive_int(num_model_subpixels,
                                     'num_model_subpixels')
  if num_model_subpixels < num_subpixels:
    raise ValueError(f'`num_model_subpixels` ({num_model_subpixels}) must be '
                     f'at least `num_subpixels` ({num_subpixels}).')
  return float(num_subpixels) / float(num_model_subpixels)


def check_images(images, image_shape, n_bits, name='images',
                 validate_args=True):
  """Validates integer-valued images and returns them as a Tensor.

  The checked path of every model's `log_prob` (`log_prob_unchecked` is the
  unchecked one). The trailing shape is checked always, at trace time.
  Range and integrality:

  * concrete values (numpy arrays, eager tensors): checked now, always;
  * symbolic tensors (inside a `tf.function`): checked at run time by
    assertions (`tf.debugging`, as TFP's `assert_util` does for a
    distribution's `_parameter_control_dependencies`) that the returned
    tensor depends on, if `validate_args`; not checked otherwise. Each
    assertion is a pass over the data.

  Args:
    images: uint8/int/float array or `Tensor` of shape `[..., H, W, C]` with
      integer values in `[0, 2**n_bits - 1]`.
    image_shape: expected `[H, W, C]`.
    n_bits: bits per subpixel.
    name: name used in error messages.
    validate_args: Python `bool`: inside a `tf.function`, check the values
      at run time. Default value: `True`.

  Returns:
    The images as a `Tensor` of their own dtype (in a `tf.function` with
    `validate_args`, one that depends on the assertions).

  Raises:
    ValueError: wrong shape, out of range, or non-integer values.
    TypeError: not a numeric dtype.
    tf.errors.InvalidArgumentError: at run time of a `tf.function`, out of
      range or non-integer values (with `validate_args`).
  """
  max_value = num_bins(n_bits) - 1
  if isinstance(images, np.ndarray) or not tf.is_tensor(images):
    images = np.asarray(images)
    if not (np.issubdtype(images.dtype, np.integer)
            or np.issubdtype(images.dtype, np.floating)):
      raise TypeError(f'`{name}` must be integer or float valued; got dtype '
                      f'{images.dtype}.')
  tensor = tf.convert_to_tensor(images)
  if not (tensor.dtype.is_integer or tensor.dtype.is_floating):
    raise TypeError(f'`{name}` must be integer or float valued; got dtype '
                    f'{tensor.dtype.name}.')
  expected = list(image_shape)
  if (tensor.shape.rank is None or tensor.shape.rank < 3
      or tensor.shape[-3:].as_list() != expected):
    raise ValueError(f'`{name}` must have shape [..., {", ".join(map(str, expected))}]'
                     f'; got {tensor.shape.as_list() if tensor.shape.rank is not None else "unknown"}.')
  if tf.executing_eagerly():
    if tf.size(tensor) > 0:
      values = tensor.numpy()
      lo, hi = values.min(), values.max()
      if lo < 0 or hi > max_value:
        raise ValueError(
            f'`{name}` values must be in [0, {max_value}] (n_bits={n_bits}); '
            f'got min {lo}, max {hi}.')
      if tensor.dtype.is_floating and not np.all(values == np.round(values)):
        raise ValueError(
            f'`{name}` must be integer-valued (grey levels); got non-integer '
            'values. For continuous inputs in [0, 1] use `log_density`.')
  elif validate_args:
    tensor = _with_value_assertions(tensor, max_value, n_bits, name)
  return tensor


def _with_value_assertions(tensor, max_value, n_bits, name):
  """`tensor`, depending on run-time checks of its range and integrality."""
  dtype = tensor.dtype
  message = f'`{name}` values must be in [0, {max_value}] (n_bits={n_bits})'
  assertions = []
  if dtype.min < 0:
    assertions.append(tf.debugging.assert_greater_equal(
        tensor, tf.zeros([], dtype), message=message))
  if dtype.is_floating or dtype.max > max_value:
    assertions.append(tf.debugging.assert_less_equal(
        tensor, tf.constant(max_value, dtype), message=message))
  if dtype.is_floating:
    assertions.append(tf.debugging.assert_equal(
        tensor, tf.round(tensor),
        message=f'`{name}` must be integer-valued (grey levels)'))
  with tf.control_dependencies(assertions):
    return tf.identity(tensor)


def dequantize(images, n_bits, seed, dtype=tf.float32):
  """Uniform dequantisation to the unit cube: `(x + u) / 2**n_bits`, u ~ U[0, 1)^D.

  Args:
    images: integer-valued `Tensor` `[..., H, W, C]` in `[0, 2**n_bits - 1]`.
    n_bits: bits per subpixel.
    seed: stateless seed, int `Tensor` of shape `[2]`.
    dtype: float dtype of the result.

  Returns:
    Float `Tensor` of the same shape with values in `[0, 1)`.
  """
  x = tf.cast(images, dtype)
  u = tf.random.stateless_uniform(tf.shape(x), seed=seed, dtype=dtype)
  return (x + u) / float(num_bins(n_bits))
