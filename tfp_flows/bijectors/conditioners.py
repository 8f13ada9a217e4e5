"""Convolutional conditioner networks for couplings and the factor-out prior.

A conditioner factory has the signature
`factory(input_channels, output_channels, name) -> callable`, where the
callable maps `[N, H, W, input_channels]` to `[N, H, W, output_channels]` and
is a `tf.Module` so its variables are tracked. Couplings take a factory so
they do not hard-code their network.

`conv_implementation` chooses how the 3x3 convolutions run, with the same
variables and the same values up to float rounding: `'fast'` (default) takes
`conv_ops.conv2d_same` (matmul + shifted taps for convs with few output
channels, TF's conv otherwise), `'reference'` always `tf.nn.conv2d`.
Checkpoints are interchangeable between the two.
"""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import conv_ops
from tfp_flows.utils.validation import positive_int

__all__ = ['GlowConditioner', 'ZeroConv2D', 'glow_conditioner_factory',
           'zero_conv_factory']


def _he_normal(rng, shape, fan_in, dtype):
  return (rng.standard_normal(shape) * np.sqrt(2. / fan_in)).astype(
      dtype.as_numpy_dtype)


class ZeroConv2D(tf.Module):
  """A 'same'-padded conv whose kernel and bias start at zero.

  Its output starts at zero, so a coupling or prior built on it starts as a
  fixed, data-independent transform.
  """

  def __init__(self, input_channels, output_channels, kernel_size=3,
               dtype=tf.float32, conv_implementation='fast',
               name='zero_conv2d'):
    super().__init__(name=name)
    input_channels = positive_int(input_channels, 'input_channels')
    output_channels = positive_int(output_channels, 'output_channels')
    conv_ops.check_implementation(conv_implementation)
    self._conv = (conv_ops.conv2d_same if conv_implementation == 'fast' else
                  lambda x, kernel: tf.nn.conv2d(x, kernel, 1, 'SAME'))
    self.kernel = tf.Variable(
        tf.zeros([kernel_size, kernel_size, input_channels, output_channels],
                 dtype), name='kernel')
    self.bias = tf.Variable(tf.zeros([output_channels], dtype), name='bias')

  def __call__(self, x):
    return tf.nn.bias_add(self._conv(x, self.kernel), self.bias)


class GlowConditioner(tf.Module):
  """Glow's coupling network: 3x3 conv, ReLU, 1x1 conv, ReLU, zero-init 3x3 conv.

  Maps `[N, H, W, input_channels]` to `[N, H, W, output_channels]`.
  """

  def __init__(self, input_channels, output_channels, hidden_channels=512,
               seed=0, dtype=tf.float32, conv_implementation='fast',
               name='glow_conditioner'):
    """Builds the network.

    Args:
      input_channels: Python `int`.
      output_channels: Python `int`.
      hidden_channels: Python `int` width of the hidden layers.
        Default value: `512` (Glow's).
      seed: seed for `np.random.default_rng` (int or sequence of ints).
      dtype: float dtype of the variables.
      conv_implementation: `'fast'` or `'reference'` (module docstring).
      name: Python `str`.
    """
    super().__init__(name=name)
    conv_ops.check_implementation(conv_implementation)
    input_channels = positive_int(input_channels, 'input_channels')
    output_channels = positive_int(output_channels, 'output_channels')
    hidden_channels = positive_int(hidden_channels, 'hidden_channels')
    rng = np.random.default_rng(seed)
    self.kernel_in = tf.Variable(_he_normal(
        rng, [3, 3, input_channels, hidden_channels], 9 * input_channels,
        dtype), name='kernel_in')
    self.bias_in = tf.Variable(tf.zeros([hidden_channels], dtype),
                               name='bias_in')
    self.kernel_hidden = tf.Variable(_he_normal(
        rng, [1, 1, hidden_channels, hidden_channels], hidden_channels, dtype),
                                     name='kernel_hidden')
    self.bias_hidden = tf.Variable(tf.zeros([hidden_channels], dtype),
                                   name='bias_hidden')
    self.out = ZeroConv2D(hidden_channels, output_channels, 3, dtype,
                          conv_implementation, name='out')

  def __call__(self, x):
    # bias_add (not `+`) lets Grappler fuse conv + bias + ReLU into one op.
    h = tf.nn.relu(tf.nn.bias_add(
        tf.nn.conv2d(x, self.kernel_in, 1, 'SAME'), self.bias_in))
    h = tf.nn.relu(tf.nn.bias_add(
        tf.nn.conv2d(h, self.kernel_hidden, 1, 'SAME'), self.bias_hidden))
    return self.out(h)


def glow_conditioner_factory(hidden_channels=512, seed=0, dtype=tf.float32,
                             conv_implementation='fast'):
  """A factory of `GlowConditioner`s; each call gets its own derived seed."""
  conv_ops.check_implementation(conv_implementation)
  counter = [0]

  def factory(input_channels, output_channels, name='glow_conditioner'):
    counter[0] += 1
    return GlowConditioner(input_channels, output_channels, hidden_channels,
                           seed=[seed, counter[0]], dtype=dtype,
                           conv_implementation=conv_implementation, name=name)
  return factory


def zero_conv_factory(kernel_size=3, dtype=tf.float32,
                      conv_implementation='fast'):
  """A factory of `ZeroConv2D`s (Glow's learned prior for factored-out latents)."""
  conv_ops.check_implementation(conv_implementation)

  def factory(input_channels, output_channels, name='zero_conv2d'):
    return ZeroConv2D(input_channels, output_channels, kernel_size, dtype,
                      conv_implementation, name=name)
  return factory
