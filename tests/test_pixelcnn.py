"""PixelCNN: exact normalisation, causality, dropout, units, errors, training.

Building a `tfd.PixelCNN` traces every weight-normalised layer (seconds even
for tiny nets), so the tests share two module-scoped models and check
equalities with eager calls where a compiled one would only add a trace.
"""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import data
from tfp_flows.models import PixelCNN
from tfp_flows.training import train_steps

_TINY = dict(num_resnet=1, num_filters=8, num_logistic_mix=2)


@pytest.fixture(scope='module')
def two_bit():
  """2x2x1 images with 4 grey levels: 256 images in all."""
  return PixelCNN(image_shape=(2, 2, 1), num_hierarchies=1, n_bits=2, seed=3,
                  **_TINY)


@pytest.fixture(scope='module')
def eight_bit():
  """8x8x1, 8 bits, two hierarchies (8 -> 4 -> 8), so the U-net's down- and
  up-sampling are part of what the causality test covers."""
  return PixelCNN(image_shape=(8, 8, 1), num_hierarchies=2, seed=1, **_TINY)


def _random_images(shape, seed=0, levels=256):
  return np.random.default_rng(seed).integers(0, levels, shape).astype(
      np.uint8)


def _all_two_bit_images():
  return np.array(list(itertools.product(range(4), repeat=4)),
                  np.uint8).reshape(256, 2, 2, 1)


def _constrained(model):
  return [v for v in model.distribution.network.variables
          if getattr(v, 'constraint', None) is not None]


def _masks_hold(model):
  return all(np.array_equal(v.numpy(), v.constraint(v).numpy())
             for v in _constrained(model))


def _total_probability(model):
  return np.exp(model.log_prob(_all_two_bit_images()).numpy().astype(
      np.float64)).sum()


def test_probabilities_of_all_images_sum_to_one(two_bit):
  np.testing.assert_allclose(_total_probability(two_bit), 1., atol=1e-4)


def test_tfp_masks_are_constraints_and_apply_kernel_masks_restores_them():
  # TFP's masks are Keras kernel constraints: break them and TFP's full
  # convolutions see later pixels, so the model is no longer normalised;
  # `apply_kernel_masks` restores causality.
  model = PixelCNN(image_shape=(2, 2, 1), num_hierarchies=1, n_bits=2,
                   seed=3, conv_implementation='reference', **_TINY)
  np.testing.assert_allclose(_total_probability(model), 1., atol=1e-4)
  rng = np.random.default_rng(0)
  for v in model.trainable_variables:
    v.assign(v + 0.3 * rng.standard_normal(v.shape).astype(np.float32))
  assert not _masks_hold(model)
  assert abs(_total_probability(model) - 1.) > 1e-3
  model.apply_kernel_masks()
  assert _masks_hold(model)
  np.testing.assert_allclose(_total_probability(model), 1., atol=1e-4)


def test_fast_convolutions_are_causal_even_with_broken_masks():
  # The default convolutions read only the masks' live taps, so causality no
  # longer depends on the masked weights being zero.
  model = PixelCNN(image_shape=(2, 2, 1), num_hierarchies=1, n_bits=2,
                   seed=3, **_TINY)
  rng = np.random.default_rng(0)
  for v in model.trainable_variables:
    v.assign(v + 0.3 * rng.standard_normal(v.shape).astype(np.float32))
  assert not _masks_hold(model)
  np.testing.assert_allclose(_total_probability(model), 1., atol=1e-4)


def test_network_output_at_a_pixel_ignores_it_and_all_later_pixels(eight_bit):
  positions = [(0, 0), (0, 5), (4, 3), (5, 0), (7, 7)]
  # One copy of the image per position: batch elements do not interact, so
  # one backward pass gives each position's gradient in its own copy.
  x = tf.constant(np.repeat(np.random.default_rng(1).uniform(
      -1., 1., (1, 8, 8, 1)), len(positions), axis=0), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(x)
    params = eight_bit.distribution.network(x, training=False)
    total = tf.add_n([
        tf.reduce_sum(p[k, r, c]) for p in params
        for k, (r, c) in enumerate(positions)])
  grads = tape.gradient(total, x).numpy()[..., 0]
  for grad, (r, c) in zip(grads, positions):
    flat = grad.ravel()
    index = r * 8 + c
    assert np.all(flat[index:] == 0.), (r, c, np.argwhere(grad != 0))
    if index:
      assert np.any(flat[:index] != 0.), (r, c)
    # Its direct neighbours in the past do matter.
    if c > 0:
      assert grad[r, c - 1] != 0., (r, c)
    if r > 0:
      assert grad[r - 1, c] != 0., (r, c)


def test_dropout_only_in_training_mode(eight_bit, assert_all_finite):
  x = _random_images((4, 8, 8, 1), seed=2)
  train_a = eight_bit.log_prob_unchecked(x, None, training=True).numpy()
  train_b = eight_bit.log_prob_unchecked(x, None, training=True).numpy()
  assert_all_finite(train_a, shape=(4,))
  assert np.all(train_a != train_b)
  eval_a = eight_bit.log_prob_unchecked(x, [1, 2]).numpy()
  np.testing.assert_array_equal(
      eval_a, eight_bit.log_prob_unchecked(x, [3, 4], training=False).numpy())
  assert PixelCNN.has_training_mode


def test_tfp_floors_non_integer_values_but_conditions_on_them(eight_bit):
  """Pins the finding documented in `PixelCNN.log_density`."""
  dist = eight_bit.distribution
  x = _random_images((1, 8, 8, 1), seed=3).astype(np.float32)
  x[0, 0, 0, 0] = x[0, 7, 7, 0] = 100.
  log_p = lambda v: dist.log_prob(v, training=False).numpy()  # noqa: E731

  def with_pixel(r, c, value):
    v = x.copy()
    v[0, r, c, 0] = value
    return v

  # The last pixel conditions nothing: only its own term sees the value,
  # which is floored (100.7 -> level 100, not the nearer 101).
  np.testing.assert_allclose(log_p(with_pixel(7, 7, 100.7)), log_p(x),
                             rtol=1e-6)
  assert abs(log_p(with_pixel(7, 7, 101.)) - log_p(x)) > 1e-4
  # The first pixel's own term floors too (same level 100), but the later
  # pixels are conditioned on the unfloored 100.9: were the value floored
  # before the network, both results would be bitwise equal.
  assert log_p(with_pixel(0, 0, 100.9)) != log_p(x)


def test_log_density_is_the_dequantised_model(two_bit):
  x = _all_two_bit_images()
  log_p = two_bit.log_prob(x).numpy()
  offset = 4 * 2 * math.log(2.)  # D * n_bits * ln 2
  u = np.random.default_rng(4).uniform(0., 1., x.shape).astype(np.float32)
  for y in [x / 4., x / 3., (x + u) / 4.]:
    np.testing.assert_allclose(two_bit.log_density(y.astype(np.float32)),
                               log_p + offset, rtol=1e-6)
  with pytest.raises(ValueError, match=r'\[0, 1\]'):
    two_bit.log_density(np.full((2, 2, 1), 1.1, np.float32))
  with pytest.raises(ValueError, match='shape'):
    two_bit.log_density(np.zeros((3, 3, 1), np.float32))
  with pytest.raises(TypeError, match='float'):
    two_bit.log_density(np.zeros((2, 2, 1), np.int32))


@pytest.mark.parametrize('channels', [1, 3])
def test_noisy_log_prob_is_log_prob_at_integers(channels):
  model = PixelCNN(image_shape=(4, 4, channels), num_hierarchies=1, seed=2,
                   **_TINY)
  x = _random_images((3, 4, 4, channels), seed=5)
  x[0, 0, 0] = 0
  x[1, -1, -1] = 255
  np.testing.assert_allclose(model.noisy_log_prob(x / 256.),
                             model.log_prob(x), rtol=2e-6)
  # Batch shapes are kept.
  assert model.noisy_log_prob(np.stack([x, x]) / 256.).shape == (2, 3)


@pytest.mark.parametrize('channels', [1, 3])
def test_pixel_log_probs_are_the_causal_terms_of_log_prob(channels):
  model = PixelCNN(image_shape=(4, 4, channels), num_hierarchies=1, seed=2,
                   **_TINY)
  x = _random_images((3, 4, 4, channels), seed=7)
  terms = model.pixel_log_probs(x).numpy()
  assert terms.shape == (3, 4, 4)
  assert (terms <= 0.).all()
  np.testing.assert_allclose(terms.sum(axis=(-2, -1)), model.log_prob(x),
                             rtol=2e-6)
  # Changing pixel (1, 2) leaves the terms of the pixels before it in raster
  # order exactly as they were, and changes its own term.
  changed = x.copy()
  changed[:, 1, 2] = 255 - changed[:, 1, 2]
  after = model.pixel_log_probs(changed).numpy().reshape(3, 16)
  before = terms.reshape(3, 16)
  np.testing.assert_array_equal(after[:, :6], before[:, :6])
  assert (after[:, 6] != before[:, 6]).all()
  # Batch shapes are kept; bad images are refused by name.
  assert model.pixel_log_probs(np.stack([x, x])).shape == (2, 3, 4, 4)
  with pytest.raises(ValueError, match='shape'):
    model.pixel_log_probs(np.zeros((3, 3, channels), np.uint8))


def test_noisy_log_prob_conditions_on_noise_and_floors_own_level(eight_bit):
  dist = eight_bit.distribution
  x = _random_images((2, 8, 8, 1), seed=6)
  x[:, 0, 0, 0] = 0
  rng = np.random.default_rng(0)
  # Inside [0, 255]: exactly tfd.PixelCNN.log_prob of the noisy pixel values.
  v = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0., 255.)
  np.testing.assert_allclose(
      eight_bit.noisy_log_prob((v / 256.).astype(np.float32)),
      dist.log_prob(v.astype(np.float32), training=False), rtol=2e-6)
  # Below 0, where TFP gives NaN, the pixel takes level 0's mass (its tail
  # bucket) while the network still sees the negative value.
  below = x.astype(np.float64)
  below[:, 0, 0, 0] = -0.25
  assert np.isnan(dist.log_prob(below.astype(np.float32),
                                training=False)).all()
  score = eight_bit.noisy_log_prob((below / 256.).astype(np.float32)).numpy()
  assert np.isfinite(score).all()
  assert (np.abs(score - eight_bit.log_prob(x).numpy()) > 1e-5).all()
  # Unlike log_density, which quantises before the network sees anything.
  offset = 64 * 8 * math.log(2.)
  np.testing.assert_allclose(
      eight_bit.log_density(np.clip(below / 256., 0, 1).astype(np.float32)),
      eight_bit.log_prob(x) + offset, rtol=1e-6)


@pytest.mark.parametrize('y,error,pattern', [
    (np.zeros((3, 3, 1), np.float32), ValueError, 'shape'),
    (np.zeros((8, 8, 1), np.int32), TypeError, 'float'),
    (np.full((8, 8, 1), np.nan, np.float32), ValueError, 'NaN'),
])
def test_noisy_log_prob_bad_input(eight_bit, y, error, pattern):
  with pytest.raises(error, match=pattern):
    eight_bit.noisy_log_prob(y)


@pytest.mark.parametrize('batch_shape', [(), (2,), (2, 3)])
def test_bits_per_dim_batch_shapes(two_bit, batch_shape, assert_all_finite):
  x = _random_images(batch_shape + (2, 2, 1), seed=5, levels=4)
  bpd = two_bit.bits_per_dim(x)
  assert bpd.dtype == tf.float32
  assert_all_finite(bpd, shape=batch_shape)
  np.testing.assert_allclose(
      bpd, -two_bit.log_prob(x.astype(np.float32)) / (4 * math.log(2.)),
      rtol=1e-6)
  # One compiled graph serves every batch shape and input dtype.
  compiled = two_bit._compiled.get('log_prob')
  assert compiled.experimental_get_tracing_count() == 1


@pytest.mark.parametrize('images, pattern', [
    (np.zeros((2, 8, 8, 1), np.uint8), r'shape \[\.\.\., 2, 2, 1\]'),
    (np.full((2, 2, 2, 1), 4, np.int32), r'\[0, 3\] \(n_bits=2\)'),
    (np.full((2, 2, 1), -1., np.float32), r'\[0, 3\]'),
    (np.full((2, 2, 1), 1.5, np.float32), 'integer-valued'),
    (np.array(['a']), 'integer or float'),
])
def test_bad_images_are_clear_errors(two_bit, images, pattern):
  with pytest.raises((ValueError, TypeError), match=pattern):
    two_bit.log_prob(images)


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(image_shape=(8, 8)), 'image_shape'),
    (dict(image_shape=(8, 0, 1)), 'image_shape'),
    (dict(num_resnet=0), 'num_resnet'),
    (dict(num_hierarchies=1.5), 'num_hierarchies'),
    (dict(image_shape=(6, 6, 1), num_hierarchies=3), 'num_hierarchies=3'),
    (dict(num_filters=-8), 'num_filters'),
    (dict(num_logistic_mix=0), 'num_logistic_mix'),
    (dict(dropout_p=1.), 'dropout_p'),
    (dict(use_weight_norm='yes'), 'use_weight_norm'),
    (dict(n_bits=0), 'n_bits'),
    (dict(seed='a'), 'seed'),
])
def test_bad_constructor_arguments(kwargs, pattern):
  with pytest.raises(ValueError, match=pattern):
    PixelCNN(**kwargs)


def test_samples_are_reproducible_and_follow_log_prob(two_bit):
  samples = two_bit.sample(4000, seed=1)
  assert samples.dtype == tf.uint8 and samples.shape == (4000, 2, 2, 1)
  np.testing.assert_array_equal(two_bit.sample(4000, seed=1), samples)
  # Each pixel's marginal over the 4 levels, exact (from log_prob of all 256
  # images) against empirical (standard error <= 0.008).
  probs = np.exp(two_bit.log_prob(_all_two_bit_images()).numpy().astype(
      np.float64)).reshape(4, 4, 4, 4)
  flat = samples.numpy().reshape(4000, 4)
  for pixel in range(4):
    exact = probs.sum(axis=tuple(a for a in range(4) if a != pixel))
    empirical = np.bincount(flat[:, pixel], minlength=4) / 4000.
    np.testing.assert_allclose(empirical, exact, atol=0.04)
  # Unseeded: one compiled graph, fresh images every call.
  first, second = two_bit.sample(200), two_bit.sample(200)
  assert np.any(first.numpy() != second.numpy())
  compiled = two_bit._compiled.get(('sample', 200))
  assert compiled.experimental_get_tracing_count() == 1
  with pytest.raises(ValueError, match='`n`'):
    two_bit.sample(0)


def test_checkpoint_restores_a_fresh_model(two_bit, tmp_path):
  x = _all_two_bit_images()
  # Saving works with compiled functions cached (the sampling test caches
  # one under a tuple key, which a tracked dict could not save).
  two_bit.log_prob(x)
  path = tf.train.Checkpoint(model=two_bit).write(str(tmp_path / 'ckpt'))
  expected = two_bit.log_prob_unchecked(x).numpy()
  # Another seed: other weights until restored.
  restored = PixelCNN(image_shape=(2, 2, 1), num_hierarchies=1, n_bits=2,
                      seed=4, **_TINY)
  assert np.any(restored.log_prob_unchecked(x).numpy() != expected)
  tf.train.Checkpoint(model=restored).read(path).assert_consumed()
  np.testing.assert_array_equal(restored.log_prob_unchecked(x).numpy(),
                                expected)


def test_variables_exist_after_construction(eight_bit):
  variables = eight_bit.trainable_variables
  network = eight_bit.distribution.network.trainable_variables
  assert variables and {id(v) for v in variables} == {id(v) for v in network}
  assert sum(int(np.prod(v.shape)) for v in variables) > 1000
  assert eight_bit.config == dict(
      image_shape=[8, 8, 1], num_resnet=1, num_hierarchies=2, num_filters=8,
      num_logistic_mix=2, dropout_p=0.5, use_weight_norm=True, n_bits=8,
      seed=1)


@pytest.mark.slow
def test_tiny_pixelcnn_trained_30_steps_on_fashion_mnist_improves():
  images, _ = data.load('fashion_mnist', 'train')
  model = PixelCNN(num_hierarchies=1, seed=0, **_TINY)
  result = train_steps(model, images, num_steps=30, batch_size=16,
                       learning_rate=1e-3, seed=0)
  losses = np.array(result['losses'])
  assert np.all(np.isfinite(losses))
  # Measured: ~5.2 -> ~4.3 bits/dim (first vs last three steps).
  assert losses[-3:].mean() < losses[:3].mean() - 0.3, losses
  # The tf_keras optimizer re-applies the causal masks after every step.
  assert _masks_hold(model)
