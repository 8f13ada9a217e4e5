"""Fast convolution paths agree with the plain `tf.nn.conv2d` path.

Issue 5's rule: an optimised path gives the same log_prob as the plain path
within 1e-4 relative, on real images.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors as fb
from tfp_flows import data
from tfp_flows.bijectors import conv_ops
from tfp_flows.models import Glow


def _reference(x, kernel):
  return tf.nn.conv2d(x, kernel, 1, 'SAME')


def _random(shape, seed, dtype=np.float32):
  return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize('x_shape,kernel_shape', [
    ((2, 6, 6, 5), (3, 3, 5, 4)),
    ((3, 7, 5, 8), (3, 3, 8, 2)),    # odd, non-square image
    ((1, 4, 9, 3), (5, 5, 3, 3)),    # 5x5 kernel wider than the image
    ((2, 1, 1, 4), (3, 3, 4, 16)),   # 1x1 image: every tap but the centre is 0
])
def test_taps_equal_conv2d_values_and_gradients(x_shape, kernel_shape):
  x = tf.constant(_random(x_shape, 0, np.float64))
  kernel = tf.constant(_random(kernel_shape, 1, np.float64))
  upstream = tf.constant(_random(x_shape[:3] + kernel_shape[3:], 2, np.float64))
  results = []
  for conv in (_reference, conv_ops.conv2d_same_by_taps):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel])
      y = conv(x, kernel)
      loss = tf.reduce_sum(y * upstream)
    results.append([y] + tape.gradient(loss, [x, kernel]))
  for want, got in zip(*results):
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10,
                               atol=1e-10)
  assert np.abs(results[0][0].numpy()).max() > 1.  # not vacuously zero


def test_taps_trace_with_unknown_batch_height_and_width():
  kernel = tf.constant(_random((3, 3, 4, 2), 1))
  fn = tf.function(lambda x: conv_ops.conv2d_same_by_taps(x, kernel),
                   input_signature=[tf.TensorSpec([None, None, None, 4])])
  for shape in ((1, 5, 5, 4), (3, 8, 6, 4)):
    x = tf.constant(_random(shape, 0))
    np.testing.assert_allclose(fn(x).numpy(), _reference(x, kernel).numpy(),
                               rtol=1e-5, atol=1e-5)
  assert len(fn._list_all_concrete_functions()) == 1  # pylint: disable=protected-access


@pytest.mark.parametrize('kernel_shape,expected', [
    ((3, 3, 128, 4), True), ((3, 3, 128, 16), True),
    ((3, 3, 128, 17), False),  # wide outputs: TF's conv is as fast
    ((1, 1, 128, 4), False), ((2, 2, 4, 4), False), ((3, 5, 4, 4), False)])
def test_use_taps(kernel_shape, expected):
  assert conv_ops.use_taps(kernel_shape) is expected


def test_conv2d_same_dispatches_and_agrees():
  x = tf.constant(_random((2, 5, 5, 3), 0))
  for kernel_shape in ((3, 3, 3, 4), (3, 3, 3, 32), (1, 1, 3, 4)):
    kernel = tf.constant(_random(kernel_shape, 1))
    np.testing.assert_allclose(conv_ops.conv2d_same(x, kernel).numpy(),
                               _reference(x, kernel).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_bad_conv_implementation_is_a_clear_error():
  with pytest.raises(ValueError, match='conv_implementation'):
    fb.ZeroConv2D(4, 4, conv_implementation='cudnn')
  with pytest.raises(ValueError, match='conv_implementation'):
    fb.glow_conditioner_factory(8, conv_implementation='slow')
  with pytest.raises(ValueError, match='conv_implementation'):
    Glow(image_shape=(8, 8, 1), conv_implementation='nope')
  for accepted in conv_ops.IMPLEMENTATIONS:
    conv_ops.check_implementation(accepted)
  with pytest.raises(ValueError, match=r"one of \('fast', 'reference'\); got 'x'"):
    conv_ops.check_implementation('x')


@pytest.mark.parametrize('coupling', ['affine', 'additive'])
def test_fast_glow_log_prob_equals_reference_on_real_images(coupling):
  images, _ = data.load('fashion_mnist', 'test', num_examples=64)
  models = [Glow(image_shape=(28, 28, 1), num_levels=2, num_steps_per_level=2,
                 hidden_channels=16, coupling=coupling,
                 conv_implementation=impl) for impl in ('reference', 'fast')]
  reference, fast = models
  assert [v.shape for v in reference.variables] == [
      v.shape for v in fast.variables]  # same variables: checkpoints swap
  reference.initialize(images)
  # Off the zero init, or the output convs (the fast path) would be moot.
  rng = np.random.default_rng(0)
  for v in reference.trainable_variables:
    v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
  for source, target in zip(reference.variables, fast.variables):
    target.assign(source)
  want = reference.log_prob(images, seed=0).numpy()
  got = fast.log_prob(images, seed=0).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-4)
  assert np.ptp(want) > 1.  # distinct images, distinct likelihoods
