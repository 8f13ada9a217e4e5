"""Background models for the likelihood-ratio score: mutation, L2, records."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tiny_runs
from tfp_flows import models
from tfp_flows.models import loading
from tfp_flows.ood import likelihood_ratio as lr
from tfp_flows.training import mutation
from tfp_flows.training import steps


def _images(n=64, name='mnist'):
  return tiny_runs.first_images(n, name)


@pytest.mark.parametrize('rate', [0.1, 0.3, 0.5])
@pytest.mark.parametrize('dtype', [tf.uint8, tf.float32])
def test_mutation_changes_exactly_the_stated_fraction(rate, dtype):
  images = tf.constant(_images(32), dtype)
  out = mutation.mutate(images, rate, tf.constant([3, 4]))
  assert out.dtype == dtype and out.shape == images.shape
  changed = np.sum(out.numpy() != images.numpy(), axis=(1, 2, 3))
  np.testing.assert_array_equal(changed, round(rate * 784))
  values = out.numpy()
  assert values.min() >= 0 and values.max() <= 255
  np.testing.assert_array_equal(values, np.round(values))


def test_mutation_positions_and_levels_are_uniform():
  # 2,000 constant images: every position is chosen with probability rate
  # and every other level equally often.
  images = tf.zeros([2000, 4, 4, 1], tf.uint8)
  out = mutation.mutate(images, 0.25, tf.constant([0, 1])).numpy()
  chosen = (out != 0).mean(axis=0).ravel()
  np.testing.assert_allclose(chosen, 0.25, atol=0.035)
  levels = np.bincount(out[out != 0], minlength=256)[1:]
  assert levels.sum() == 2000 * 4
  # 8,000 draws over 255 levels: ~31 each; a chi-square with 254 dof.
  expected = levels.sum() / 255
  chi2 = np.sum((levels - expected) ** 2 / expected)
  assert chi2 < 254 + 5 * np.sqrt(2 * 254)


def test_mutation_is_seeded_and_zero_rate_is_identity():
  images = tf.constant(_images(8))
  a = mutation.mutate(images, 0.2, tf.constant([1, 2]))
  b = mutation.mutate(images, 0.2, tf.constant([1, 2]))
  c = mutation.mutate(images, 0.2, tf.constant([1, 3]))
  np.testing.assert_array_equal(a, b)
  assert np.any(a.numpy() != c.numpy())
  assert mutation.mutate(images, 0., tf.constant([1, 2])) is images


@pytest.mark.parametrize('rate,match', [
    (1.0, r'in \[0, 1\)'), (-0.1, r'in \[0, 1\)'), ('0.1', 'number'),
    (True, 'number')])
def test_bad_mutation_rate(rate, match):
  with pytest.raises(ValueError, match=match):
    mutation.mutate(tf.zeros([1, 2, 2, 1], tf.uint8), rate, tf.constant([0, 0]))


def test_bad_l2_weight():
  with pytest.raises(ValueError, match='`l2_weight` must be a number >= 0'):
    steps.check_regularisers(0.1, -1e-3)


def test_l2_weight_adds_its_gradient_and_not_to_the_loss():
  # Two identical models, one SGD step (learning rate 1) on the same batch
  # and seed: the L2 term's update is exactly -2 * l2 * w, and the
  # reported loss is the bits/dim alone.
  images = tf.constant(_images(16, 'fashion_mnist'))
  seed = tf.constant([5, 6])
  results = []
  for l2 in (0., 1e-2):
    model = tiny_runs.tiny_glow()
    model.initialize(images.numpy(), seed=0)
    before = [v.numpy() for v in model.trainable_variables]
    step = steps.make_train_step(model, tf_keras.optimizers.SGD(1.), 16,
                                 l2_weight=l2)
    loss, _, applied = step(images, seed)
    assert bool(applied)
    results.append((float(loss), before,
                    [v.numpy() for v in model.trainable_variables]))
  (loss0, before, plain), (loss1, _, with_l2) = results
  assert loss0 == pytest.approx(loss1, rel=1e-6)
  for w, a, b in zip(before, plain, with_l2):
    np.testing.assert_allclose(b - a, -2e-2 * w, atol=1e-5)


def test_mutated_batches_are_what_the_step_trains_on():
  # The step's loss is the bits/dim of the batch mutated with the step's
  # own seed stream (replica 0's seed folded with 1), dequantised with the
  # replica seed as without mutation.
  images = tf.constant(_images(32, 'fashion_mnist'))
  model = tiny_runs.tiny_glow()
  model.initialize(images.numpy(), seed=0)
  step = steps.make_train_step(model, tf_keras.optimizers.SGD(0.), 32,
                               mutation_rate=0.3)
  seed = tf.constant([7, 0])
  loss = float(step(images, seed)[0])
  replica_seed = tf.random.experimental.stateless_fold_in(seed, 0)
  mutated = mutation.mutate(
      images, 0.3, tf.random.experimental.stateless_fold_in(replica_seed, 1))
  expected = np.mean(model.bits_per_dim(mutated.numpy(), seed=replica_seed))
  clean = np.mean(model.bits_per_dim(images.numpy(), seed=replica_seed))
  assert loss == pytest.approx(expected, rel=1e-4)
  assert abs(expected - clean) > 0.05


@pytest.mark.slow
def test_trainer_records_background_training_and_load_returns_it(tmp_path):
  tiny_runs.train_tiny(tmp_path, dataset='mnist', num_steps=2,
                       mutation_rate=0.2, l2_weight=1e-5)
  with open(tmp_path / loading.MODEL_JSON) as f:
    assert json.load(f)['training'] == {'mutation_rate': 0.2,
                                        'l2_weight': 1e-5}
  model = models.load(str(tmp_path))
  assert model.training_options == {'mutation_rate': 0.2, 'l2_weight': 1e-5}


def test_trainer_refuses_a_bad_mutation_rate_before_writing(tmp_path):
  with pytest.raises(ValueError, match='mutation_rate'):
    tiny_runs.train_tiny(tmp_path / 'run', mutation_rate=1.5)
  assert not (tmp_path / 'run').exists()


def test_operative_config_records_training_options(tmp_path):
  (tmp_path / 'operative_config.gin').write_text(
      'Glow.hidden_channels = 8\ntrain.dataset = \'mnist\'\n'
      'train.model_fn = @Glow\ntrain.mutation_rate = 0.1\n')
  spec = loading.model_spec(str(tmp_path))
  assert spec.training == {'mutation_rate': 0.1, 'l2_weight': 0.}


class _Loaded:

  def __init__(self, dataset, shape=(28, 28, 1), name='run'):
    self.training_dataset, self.image_shape = dataset, list(shape)
    self.model_dir = name


def test_background_of_another_data_set_is_one_clear_error():
  with pytest.raises(ValueError, match="background model 'bg' was trained "
                     "on mnist, the model 'fm' on fashion_mnist"):
    lr.check_background(_Loaded('fashion_mnist', name='fm'),
                        _Loaded('mnist', name='bg'))
  with pytest.raises(ValueError, match='takes images of shape'):
    lr.check_background(_Loaded('mnist'), _Loaded('mnist', (32, 32, 1)))
  lr.check_background(_Loaded('mnist'), _Loaded('mnist'))


def test_likelihood_ratio_is_the_bits_per_dim_difference():
  np.testing.assert_allclose(lr.likelihood_ratio([3., 1.], [2.5, 2.]),
                             [0.5, -1.])
  with pytest.raises(ValueError, match='same images'):
    lr.likelihood_ratio([1., 2.], [1.])


def test_likelihood_ratio_map_sums_to_the_score_of_two_pixelcnns():
  # Two differently seeded tiny PixelCNNs stand in for model and background.
  model, background = (
      models.PixelCNN(image_shape=(4, 4, 2), num_resnet=1, num_hierarchies=1,
                      num_filters=8, num_logistic_mix=2, dropout_p=0.,
                      seed=seed) for seed in (0, 1))
  images = np.random.default_rng(3).integers(0, 256, (5, 4, 4, 2), np.uint8)
  ratio_map = lr.likelihood_ratio_map(model.pixel_log_probs(images),
                                      background.pixel_log_probs(images), 32)
  assert ratio_map.shape == (5, 4, 4) and ratio_map.dtype == np.float64
  np.testing.assert_allclose(
      ratio_map.sum(axis=(1, 2)),
      lr.likelihood_ratio(model.bits_per_dim(images),
                          background.bits_per_dim(images)), atol=1e-5)
  with pytest.raises(ValueError, match='same images'):
    lr.likelihood_ratio_map(np.zeros((5, 4, 4)), np.zeros((5, 4, 3)), 32)


def test_step_mutates_within_the_models_grey_levels(monkeypatch):
  # A 5-bit model's mutated subpixels must stay in 0..31.
  seen = {}
  original = mutation.mutate

  def recording(images, rate, seed, n_bits=8):
    seen['n_bits'] = n_bits
    return original(images, rate, seed, n_bits=n_bits)
  monkeypatch.setattr(mutation, 'mutate', recording)
  model = tiny_runs.tiny_glow(n_bits=5)
  images = tf.constant(_images(8, 'fashion_mnist') // 8)
  model.initialize(images.numpy(), seed=0)
  step = steps.make_train_step(model, tf_keras.optimizers.SGD(0.), 8,
                               mutation_rate=0.5)
  assert np.isfinite(float(step(images, tf.constant([1, 2]))[0]))
  assert seen['n_bits'] == 5
