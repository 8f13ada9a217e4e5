"""PixelCNN's masked convolutions on their live taps equal the full ones."""

import threading
import time

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows import data
from tfp_flows.models import masked_conv
from tfp_flows.models import PixelCNN


def _random(shape, seed):
  return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize('height,width,kernel_size,box,strides', [
    (28, 28, (3, 3), ((0, 2), (0, 3)), (1, 1)),   # vertical stack
    (28, 28, (3, 3), ((0, 2), (0, 2)), (1, 1)),   # horizontal stack
    (28, 28, (5, 3), ((0, 2), (0, 3)), (1, 1)),   # first vertical layer
    (28, 28, (3, 3), ((0, 1), (0, 3)), (1, 1)),
    (28, 28, (4, 4), ((0, 2), (0, 3)), (2, 2)),   # stride-2 downsampling
    (14, 14, (4, 4), ((0, 2), (0, 2)), (2, 2)),
    (7, 9, (3, 3), ((1, 3), (1, 2)), (1, 1)),     # odd, non-square, inner box
    (7, 9, (4, 4), ((1, 4), (2, 4)), (2, 2)),
    (5, 5, (3, 3), ((0, 3), (0, 3)), (2, 2)),     # the whole kernel
])
def test_conv_on_box_equals_masked_full_conv(height, width, kernel_size, box,
                                             strides):
  mask = np.zeros(kernel_size)
  mask[box[0][0]:box[0][1], box[1][0]:box[1][1]] = 1.
  x = tf.constant(_random((2, height, width, 3), 0))
  kernel = tf.constant(_random(kernel_size + (3, 4), 1) * mask[..., None, None])
  results = []
  for conv in (lambda a: tf.nn.conv2d(a, kernel, [1, *strides, 1], 'SAME'),
               lambda a: masked_conv.same_conv_on_box(a, kernel, box,
                                                      strides)):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = conv(x)
      loss = tf.reduce_sum(y * tf.constant(_random(y.shape, 2)))
    results.append((y, tape.gradient(loss, x)))
  (want, want_grad), (got, got_grad) = results
  assert got.shape == want.shape
  np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-10,
                             atol=1e-10)
  assert np.abs(want.numpy()).max() > 1.


@pytest.mark.parametrize('mask,box', [
    ([[1, 1, 0], [1, 1, 0], [0, 0, 0]], ((0, 2), (0, 2))),
    ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], ((1, 2), (1, 2))),
    ([[1, 0, 1], [1, 1, 1], [0, 0, 0]], None),   # not a rectangle
    ([[0, 0], [0, 0]], None),                    # empty
    ([[0.5, 1], [1, 1]], None),                  # not 0/1
])
def test_mask_box(mask, box):
  assert masked_conv.mask_box(np.array(mask, float)) == box


def test_box_conv2d_without_a_mask_is_a_plain_conv2d():
  plain = masked_conv.BoxConv2D(4, 3, padding='same')
  assert plain.mask_box is None
  unrectangular = masked_conv.BoxConv2D(
      4, 3, padding='same',
      kernel_constraint=lambda k: k * np.array([[1., 0, 1]] * 3)[..., None,
                                                                  None])
  assert unrectangular.mask_box is None
  masked = masked_conv.BoxConv2D(
      4, 3, padding='same',
      kernel_constraint=lambda k: k * np.array(
          [[1., 1, 1], [1, 1, 1], [0, 0, 0]])[..., None, None])
  assert masked.mask_box == ((0, 2), (0, 3))


def test_box_convolutions_restores_keras_conv2d_even_on_error():
  layers = tf_keras.layers
  original = layers.Convolution2D
  with pytest.raises(RuntimeError, match='boom'):
    with masked_conv.box_convolutions():
      assert layers.Convolution2D is masked_conv.BoxConv2D
      raise RuntimeError('boom')
  assert layers.Convolution2D is original


def test_box_convolutions_in_two_threads_restores_keras_conv2d():
  # Thread b enters while thread a is inside and leaves after a: without the
  # lock b would save BoxConv2D as "the original" and put it back after a
  # restored Conv2D.
  layers = tf_keras.layers
  original = layers.Convolution2D
  a_inside, b_starting = threading.Event(), threading.Event()
  errors = []

  def a():
    with masked_conv.box_convolutions():
      a_inside.set()
      b_starting.wait(5)
      time.sleep(0.3)

  def b():
    a_inside.wait(5)
    b_starting.set()
    try:
      with masked_conv.box_convolutions():
        assert layers.Convolution2D is masked_conv.BoxConv2D
        time.sleep(0.6)
    except AssertionError as e:   # re-raised below, in the test's thread
      errors.append(e)

  threads = [threading.Thread(target=a), threading.Thread(target=b)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(10)
  left_installed = layers.Convolution2D
  layers.Convolution2D = original     # the other tests need Keras intact
  assert not errors
  assert left_installed is original


def _pair(**kwargs):
  reference = PixelCNN(conv_implementation='reference', **kwargs)
  fast = PixelCNN(conv_implementation='fast', **kwargs)
  return reference, fast


def _box_layers(model):
  return [layer for layer in model.distribution.network.submodules
          if isinstance(layer, masked_conv.BoxConv2D) and
          layer.mask_box is not None]


@pytest.mark.slow
def test_fast_pixelcnn_log_prob_equals_reference_on_real_images():
  images, _ = data.load('mnist', 'test', num_examples=32)
  reference, fast = _pair(num_resnet=1, num_filters=16, num_hierarchies=2,
                          seed=3)
  assert not _box_layers(reference)
  assert len(_box_layers(fast)) >= 20  # every masked stride-1/2 conv
  rng = np.random.default_rng(0)
  for v in reference.trainable_variables:
    v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
  reference.apply_kernel_masks()  # as an optimizer step would
  for source, target in zip(reference.variables, fast.variables):
    target.assign(source)
  want = reference.log_prob(images).numpy()
  got = fast.log_prob(images).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-4)
  assert np.ptp(want) > 10.
  y = (images[:8].astype(np.float32) + 0.5) / 256
  np.testing.assert_allclose(fast.log_density(y).numpy(),
                             reference.log_density(y).numpy(), rtol=1e-4)


def test_checkpoints_move_between_implementations(tmp_path):
  images, _ = data.load('fashion_mnist', 'test', num_examples=8)
  reference, fast = _pair(num_resnet=1, num_filters=8, num_hierarchies=1,
                          seed=4)
  rng = np.random.default_rng(1)
  for v in reference.trainable_variables:
    v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
  reference.apply_kernel_masks()
  path = tf.train.Checkpoint(model=reference).write(str(tmp_path / 'ckpt'))
  tf.train.Checkpoint(model=fast).read(path).assert_existing_objects_matched()
  np.testing.assert_allclose(fast.log_prob(images).numpy(),
                             reference.log_prob(images).numpy(), rtol=1e-4)


def test_bad_conv_implementation_is_a_clear_error():
  with pytest.raises(ValueError, match='conv_implementation'):
    PixelCNN(conv_implementation='cropped')
