"""Convolutions written for the shapes a Glow conditioner has on CPUs.

TensorFlow's CPU `Conv2D` (and its two gradients) uses the cores poorly when a
3x3 convolution has few output channels, as the zero-initialised last layer
of every coupling network does (128 -> 2..8 channels). The same convolution
written as one matmul to `9 * C_out` channels followed by a sum of the nine
shifted taps computes the same values several times faster, most of all
with gradients (figures in docs/PERFORMANCE.md, `bench/archive/conv_shapes.py`).
"""

import numpy as np
import tensorflow as tf

__all__ = ['IMPLEMENTATIONS', 'check_implementation', 'conv2d_same',
           'conv2d_same_by_taps', 'use_taps']

# `conv_implementation` values a model accepts: 'fast' uses this module's
# paths (Glow) or `models.masked_conv` (PixelCNN); 'reference' is TF's plain
# convolutions, kept to test the fast paths against and to measure them.
IMPLEMENTATIONS = ('fast', 'reference')

# At or below this many output channels a 3x3 conv runs as matmul + taps. The
# matmul then has <= 144 output columns; above it TF's conv is competitive.
_MAX_TAPS_OUTPUT_CHANNELS = 16


def check_implementation(conv_implementation):
  """Raises `ValueError` unless `conv_implementation` is in `IMPLEMENTATIONS`."""
  if conv_implementation not in IMPLEMENTATIONS:
    raise ValueError('`conv_implementation` must be one of '
                     f'{IMPLEMENTATIONS}; got {conv_implementation!r}.')


def use_taps(kernel_shape):
  """Whether `conv2d_same` takes the matmul-and-taps path for this kernel.

  Args:
    kernel_shape: `[k, k, C_in, C_out]` (static).

  Returns:
    Python `bool`: True for odd `k > 1` and `C_out <= 16`.
  """
  k_h, k_w, _, c_out = kernel_shape
  return k_h == k_w and k_h > 1 and k_h % 2 == 1 and (
      c_out <= _MAX_TAPS_OUTPUT_CHANNELS)


def _tap_selector(k, c_out, dtype):
  """`[k, k, k*k*c_out, 1]` one-hot depthwise kernel: tap t keeps position t."""
  selector = np.zeros([k, k, k * k * c_out, 1], dtype.as_numpy_dtype)
  for dy in range(k):
    for dx in range(k):
      tap = dy * k + dx
      selector[dy, dx, tap * c_out:(tap + 1) * c_out, 0] = 1.
  return tf.constant(selector)


def conv2d_same_by_taps(x, kernel):
  """A stride-1 'SAME' convolution as one matmul and a sum of shifted taps.

  `out[n, i, j] = sum_{dy, dx} (x @ kernel[dy, dx])[n, i + dy - p, j + dx - p]`
  with `p = k // 2` and zeros outside the image, which is `tf.nn.conv2d(x,
  kernel, 1, 'SAME')` up to float rounding. The shifted sum runs as a
  depthwise conv with a fixed one-hot kernel and a sum over taps: on CPUs
  that beat nine strided slices (docs/PERFORMANCE.md).

  Args:
    x: `[N, H, W, C_in]` float tensor.
    kernel: `[k, k, C_in, C_out]` float tensor with a static shape, `k` odd.

  Returns:
    `[N, H, W, C_out]` tensor of `x`'s dtype.
  """
  k, _, c_in, c_out = kernel.shape
  # [C_in, k*k*C_out], tap-major, so tap t's outputs are channels
  # [t*C_out, (t+1)*C_out) of the projection.
  taps = tf.reshape(tf.transpose(kernel, [2, 0, 1, 3]), [c_in, k * k * c_out])
  shape = tf.shape(x)
  projected = tf.reshape(tf.matmul(tf.reshape(x, [-1, c_in]), taps),
                         tf.concat([shape[:3], [k * k * c_out]], 0))
  shifted = tf.nn.depthwise_conv2d(
      projected, _tap_selector(k, c_out, x.dtype), [1, 1, 1, 1], 'SAME')
  shifted = tf.reshape(shifted, tf.concat([shape[:3], [k * k, c_out]], 0))
  return tf.reduce_sum(shifted, axis=3)


def conv2d_same(x, kernel):
  """Stride-1 'SAME' convolution, by taps where that is faster on CPUs.

  Args:
    x: `[N, H, W, C_in]` float tensor.
    kernel: `[k, k, C_in, C_out]` float tensor with a static shape.

  Returns:
    `[N, H, W, C_out]`, equal to `tf.nn.conv2d(x, kernel, 1, 'SAME')` up to
    float rounding.
  """
  if use_taps(kernel.shape):
    return conv2d_same_by_taps(x, kernel)
  return tf.nn.conv2d(x, kernel, 1, 'SAME')
