"""Level-wise Glow log-likelihood: levels sum to the whole, and OoD scores."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfp_flows.models import discrete
from tfp_flows.models import Glow
from tfp_flows.models import glow_levels
from tfp_flows.ood import levels


def _perturb(model, seed=0, scale=0.05):
  """Moves every weight off its initial value (zero convs, identity ActNorm)."""
  rng = np.random.default_rng(seed)
  for v in model.trainable_variables:
    v.assign(v + scale * rng.standard_normal(v.shape).astype(np.float32))
  return model


def _random_images(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


# (image_shape, Glow kwargs): 2 and 3 levels, with and without padding,
# affine and additive couplings.
CASES = {
    'L2_affine': ((8, 8, 1), dict(num_levels=2)),
    'L3_additive': ((8, 8, 2), dict(num_levels=3, coupling='additive')),
    'L3_affine_pad': ((6, 6, 1), dict(num_levels=3, pad_to=8)),
    'L2_additive_pad': ((6, 6, 1), dict(num_levels=2, pad_to=8,
                                        coupling='additive')),
}


@pytest.fixture(scope='module', params=sorted(CASES))
def case(request):
  image_shape, kwargs = CASES[request.param]
  glow = Glow(image_shape=image_shape, num_steps_per_level=2,
              hidden_channels=8, **kwargs)
  x = _random_images((3,) + image_shape, seed=1)
  glow.initialize(x)
  return _perturb(glow), x


def test_level_log_densities_sum_to_log_density(case):
  glow, x = case
  y = (x.astype(np.float32) + 0.5) / 256.
  per_level = glow_levels.level_log_densities(glow, y).numpy()
  assert per_level.shape == (3, glow.num_levels)
  assert per_level.dtype == np.float32
  np.testing.assert_allclose(per_level.sum(-1), glow.log_density(y).numpy(),
                             rtol=1e-5, atol=1e-3)


def test_level_log_probs_sum_to_log_prob_with_the_same_noise(case):
  glow, x = case
  per_level = glow_levels.level_log_probs(glow, x, seed=[3, 4]).numpy()
  assert per_level.shape == (3, glow.num_levels)
  np.testing.assert_allclose(per_level.sum(-1),
                             glow.log_prob(x, seed=[3, 4]).numpy(),
                             rtol=1e-5, atol=1e-3)
  # Other noise, other numbers: the seed is really used.
  other = glow_levels.level_log_probs(glow, x, seed=[5, 6]).numpy()
  assert np.all(other != per_level)


def test_discrete_levels_are_the_continuous_ones_minus_their_share_of_offset(
    case):
  glow, x = case
  if glow.pad_to is not None:
    pytest.skip('the border\'s dequantisation noise cannot be fed back')
  seed = tf.constant([3, 4], tf.int32)
  y = discrete.dequantize(tf.constant(x), 8, seed)
  dims = np.array(glow_levels.level_dimensions(glow))
  np.testing.assert_allclose(
      glow_levels.level_log_probs(glow, x, seed=seed).numpy(),
      glow_levels.level_log_densities(glow, y).numpy() - dims * math.log(256.),
      rtol=1e-5, atol=1e-3)


def test_level_dimensions_are_the_latent_sizes(case):
  glow, _ = case
  dims = glow_levels.level_dimensions(glow)
  assert len(dims) == glow.num_levels
  assert dims == [int(np.prod(s)) for s in glow.latent_shapes]
  assert sum(dims) == glow.num_model_subpixels


def test_level_dimensions_of_a_known_glow():
  glow = Glow(image_shape=(28, 28, 1), num_levels=3, num_steps_per_level=1,
              hidden_channels=4, pad_to=32)
  # 32x32x1 -> 16x16x4 (2 leave) -> 8x8x8 (4 leave) -> 4x4x16 (all leave).
  assert glow_levels.level_dimensions(glow) == [512, 256, 256]


def test_coarsest_level_equals_its_steps_log_det_plus_its_latent_density():
  """An independent check of the last level, from its own bijectors.

  Not through `glow_levels`' walk of the bijector: the coarsest level's flow
  steps are found by the name `build_glow_bijector` gives them
  (`level3_steps`); their output is the last latent of
  `log_density_and_latents`, their input is recovered by running them
  forward, and their log-det comes from an autodiff Jacobian.
  """
  glow = _perturb(Glow(image_shape=(8, 8, 1), num_levels=3,
                       num_steps_per_level=2, hidden_channels=8,
                       coupling='affine'), seed=3)
  x = _random_images((2, 8, 8, 1), seed=2)
  y = (x.astype(np.float32) + 0.5) / 256.
  per_level = glow_levels.level_log_densities(glow, y).numpy()
  _, latents = glow.log_density_and_latents(y)
  z_last = latents[-1]  # [2, 1, 1, 16]: the coarsest level's output.
  d = 16
  # Its steps' output, squeezed, is z_last; their input is found by running
  # them forward (generative direction) from it.
  steps = [b for b in glow.bijector.submodules
           if getattr(b, 'name', None) == 'level3_steps']
  assert len(steps) == 1
  steps = steps[0]
  h_out = tf.constant(z_last.numpy())
  # A fresh tensor: TFP's cache would map the forward's own output straight
  # back to `h_out`, bypassing the computation the tape must see.
  h_in = tf.constant(steps.forward(h_out).numpy())
  with tf.GradientTape() as tape:
    tape.watch(h_in)
    out = tf.reshape(steps.inverse(h_in), [2, -1])
  jac = tape.batch_jacobian(out, h_in)
  _, log_det = np.linalg.slogdet(
      tf.reshape(jac, [2, d, d]).numpy().astype(np.float64))
  base = tfd.Normal(0., 1.).log_prob(
      tf.reshape(z_last, [2, -1])).numpy().astype(np.float64).sum(-1)
  np.testing.assert_allclose(per_level[:, -1], base + log_det, rtol=1e-4,
                             atol=1e-3)


def test_levels_of_an_untrained_additive_glow_are_its_latent_densities():
  # Untrained: ActNorm identity, zero-initialised priors (log-det 0) and
  # additive couplings (log-det 0), and orthogonal 1x1 convs (|det| = 1):
  # every level's share is just its latents' N(0, 1) log-density.
  glow = Glow(image_shape=(8, 8, 1), num_levels=2, num_steps_per_level=2,
              hidden_channels=8, coupling='additive')
  y = (_random_images((2, 8, 8, 1), seed=5).astype(np.float32) + 0.5) / 256.
  per_level = glow_levels.level_log_densities(glow, y).numpy()
  _, latents = glow.log_density_and_latents(y)
  expected = np.stack([
      tfd.Normal(0., 1.).log_prob(z).numpy().sum(axis=(1, 2, 3))
      for z in latents], -1)
  np.testing.assert_allclose(per_level, expected, rtol=1e-5, atol=1e-3)


def test_batch_shapes_and_one_trace():
  glow = Glow(image_shape=(8, 8, 1), num_levels=2, num_steps_per_level=1,
              hidden_channels=4)
  for shape in [(), (3,), (2, 2), (0,)]:
    out = glow_levels.level_log_probs(glow, _random_images(shape + (8, 8, 1)),
                                      seed=0)
    assert out.shape == shape + (2,)
  assert glow._compiled.get('level_log_probs').experimental_get_tracing_count() == 1  # pylint: disable=protected-access


@pytest.mark.parametrize('fn, images, error, pattern', [
    ('probs', np.zeros((2, 6, 6, 1), np.uint8), ValueError,
     r'shape \[\.\.\., 8, 8, 1\]'),
    ('probs', np.full((2, 8, 8, 1), 256, np.int32), ValueError, r'\[0, 255\]'),
    ('probs', np.full((2, 8, 8, 1), 0.5, np.float32), ValueError,
     'integer-valued'),
    ('densities', np.zeros((2, 8, 8, 1), np.uint8), TypeError,
     'float images'),
    ('densities', np.zeros((2, 8, 4, 1), np.float32), ValueError,
     r'`y` must have shape \[\.\.\., .*8, 8, 1'),
])
def test_bad_images_are_clear_errors(fn, images, error, pattern):
  glow = Glow(image_shape=(8, 8, 1), num_levels=2, num_steps_per_level=1,
              hidden_channels=4)
  with pytest.raises(error, match=pattern):
    if fn == 'probs':
      glow_levels.level_log_probs(glow, images, seed=0)
    else:
      glow_levels.level_log_densities(glow, images)


def test_not_a_glow_is_a_type_error():
  for fn in (glow_levels.level_dimensions,
             lambda m: glow_levels.level_log_densities(m, np.zeros((8, 8, 1))),
             lambda m: glow_levels.level_log_probs(m, np.zeros((8, 8, 1)), 0),
             lambda m: levels.level_bits_per_dim(m, np.zeros((1, 8, 8, 1)))):
    with pytest.raises(TypeError, match='must be a tfp_flows Glow'):
      fn(object())


def test_level_bits_per_dim_batches_like_log_prob():
  glow = _perturb(Glow(image_shape=(8, 8, 1), num_levels=2,
                       num_steps_per_level=1, hidden_channels=4))
  x = _random_images((5, 8, 8, 1), seed=7)
  bpd = levels.level_bits_per_dim(glow, x, seed=2, batch_size=2)
  assert bpd.shape == (5, 2) and bpd.dtype == np.float64
  dims = np.array(glow_levels.level_dimensions(glow))
  # Batch i uses seed (2, i): the dimension-weighted levels give log_prob.
  for i, start in enumerate(range(0, 5, 2)):
    want = glow.log_prob(x[start:start + 2], seed=(2, i)).numpy()
    got = -(bpd[start:start + 2] * dims * math.log(2.)).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
  with pytest.raises(ValueError, match=r'\[N, H, W, C\]'):
    levels.level_bits_per_dim(glow, x[0])
  with pytest.raises(ValueError, match='batch_size'):
    levels.level_bits_per_dim(glow, x, batch_size=0)


def test_levelwise_scores_keys_and_shapes():
  bpd = np.array([[1., 2., 4.], [3., 2., 1.]])
  scores = levels.levelwise_scores(bpd)
  assert list(scores) == ['level_1', 'level_2', 'level_3',
                          'coarsest_minus_finest']
  for value in scores.values():
    assert value.shape == (2,) and value.dtype == np.float64
  np.testing.assert_array_equal(scores['level_2'], [2., 2.])
  np.testing.assert_array_equal(scores['coarsest_minus_finest'], [3., -2.])
  assert list(levels.levelwise_scores(bpd[:, :1])) == ['level_1']
  with pytest.raises(ValueError, match=r'\[N, L\]'):
    levels.levelwise_scores(np.zeros(3))
