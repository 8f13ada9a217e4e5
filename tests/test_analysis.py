"""Statistics used in reports: AUROC, bootstrap intervals, batched evaluation."""

import numpy as np
import pytest

from tfp_flows import analysis
from tfp_flows.models import evaluation
from tfp_flows.models import Glow
from tfp_flows.models import PixelCNN


def _brute_force_auroc(neg, pos):
  wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
      pos[:, None] == neg[None, :]).sum()
  return wins / (len(neg) * len(pos))


@pytest.mark.parametrize('seed', range(4))
def test_auroc_matches_pairwise_definition_with_ties(seed):
  rng = np.random.default_rng(seed)
  neg = rng.integers(0, 20, 300).astype(float)
  pos = rng.integers(5, 25, 200).astype(float)
  assert analysis.auroc(neg, pos) == pytest.approx(_brute_force_auroc(neg, pos))


def test_auroc_extremes_and_errors():
  assert analysis.auroc([0., 1.], [2., 3.]) == 1.
  assert analysis.auroc([2., 3.], [0., 1.]) == 0.
  assert analysis.auroc([1., 1.], [1.]) == 0.5
  with pytest.raises(ValueError, match='non-empty'):
    analysis.auroc([], [1.])


def test_bootstrap_interval_covers_the_mean_at_the_stated_rate():
  rng = np.random.default_rng(0)
  covered = 0
  for trial in range(200):
    sample = rng.exponential(2., 60)
    low, high = analysis.bootstrap_mean_ci(sample, num_resamples=500,
                                           seed=trial)
    covered += low <= 2. <= high
  # Percentile bootstrap on n=60 skewed data: close to, a little under, 95%.
  assert 0.88 <= covered / 200 <= 0.99


def test_summarize_fields():
  s = analysis.summarize([1., 2., 3., 4.])
  assert s['mean'] == 2.5 and s['median'] == 2.5 and s['count'] == 4
  assert s['ci95'][0] <= 2.5 <= s['ci95'][1]


def _random_images(n, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 1)).astype(
      np.uint8)


@pytest.mark.parametrize('batch_size', [4, 7, 16])
def test_evaluate_bits_per_dim_seeds_batch_i_with_seed_i(batch_size):
  # With stochastic dequantisation the batch size changes which noise an
  # image gets, so results are NOT batch-size independent; what holds is
  # the documented seeding: every batch i equals a direct call with seed
  # (seed, i), and each image is scored exactly once, in order.
  model = Glow(image_shape=(8, 8, 1), num_steps_per_level=1,
               hidden_channels=4)
  images = _random_images(16)
  seen = []
  bpd = evaluation.evaluate_bits_per_dim(model, images, batch_size=batch_size,
                                         seed=3,
                                         progress=lambda d, t: seen.append(d))
  starts = list(range(0, 16, batch_size))
  assert seen == [min(s + batch_size, 16) for s in starts]
  assert bpd.shape == (16,) and bpd.dtype == np.float64
  for i, start in enumerate(starts):
    batch = slice(start, start + batch_size)
    np.testing.assert_allclose(
        bpd[batch], model.bits_per_dim(images[batch], seed=(3, i)),
        rtol=1e-6)
  with pytest.raises(ValueError, match='batch_size'):
    evaluation.evaluate_bits_per_dim(model, images, batch_size=0)


def test_evaluate_bits_per_dim_is_batch_size_independent_without_noise():
  # A PixelCNN's log_prob uses no dequantisation noise (the seed is
  # ignored), so there every image's score is the same for any batch size.
  model = PixelCNN(image_shape=(8, 8, 1), num_hierarchies=1, num_resnet=1,
                   num_filters=8, num_logistic_mix=2, seed=1)
  images = _random_images(16, seed=1)
  by_batch_size = {b: evaluation.evaluate_bits_per_dim(model, images,
                                                       batch_size=b, seed=3)
                   for b in (4, 7, 16)}
  for b in (4, 7):
    np.testing.assert_allclose(by_batch_size[b], by_batch_size[16],
                               rtol=1e-5, err_msg=f'batch_size={b}')
  # ... and for any seed.
  np.testing.assert_allclose(
      evaluation.evaluate_bits_per_dim(model, images, batch_size=7, seed=9),
      by_batch_size[16], rtol=1e-5)


def _brute_force_ranks(values):
  # Rank = 1 + number smaller + (number equal - 1) / 2.
  values = np.asarray(values)
  smaller = (values[None, :] < values[:, None]).sum(axis=1)
  equal = (values[None, :] == values[:, None]).sum(axis=1)
  return 1. + smaller + (equal - 1) / 2.


@pytest.mark.parametrize('seed', range(3))
def test_rankdata_averages_ties(seed):
  values = np.random.default_rng(seed).integers(0, 7, 50).astype(float)
  np.testing.assert_allclose(analysis.rankdata(values),
                             _brute_force_ranks(values))


def test_spearman_matches_textbook_formula_without_ties():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=40), rng.normal(size=40)
  d = _brute_force_ranks(a) - _brute_force_ranks(b)
  n = a.size
  expected = 1. - 6. * (d * d).sum() / (n * (n * n - 1))
  assert analysis.spearman(a, b) == pytest.approx(expected)
  # Invariant to monotone maps; sign flips with a decreasing map.
  assert analysis.spearman(a, np.exp(a)) == pytest.approx(1.)
  assert analysis.spearman(a, -a ** 3) == pytest.approx(-1.)


def test_spearman_undefined_and_bad_input():
  assert np.isnan(analysis.spearman([1., 1., 1.], [1., 2., 3.]))
  assert np.isnan(analysis.spearman([1.], [2.]))
  with pytest.raises(ValueError, match='equal length'):
    analysis.spearman([1., 2.], [1.])
  with pytest.raises(ValueError, match='NaN'):
    analysis.spearman([1., np.nan], [1., 2.])
