"""Tests for tfp_flows.ood.metrics, .complexity and .typicality.

Known answers come from hand computation and from brute-force definitions
written here without ranks or counts (pairwise comparisons, a loop over
thresholds), so they do not share code with the implementation.
"""

import zlib

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows.ood import complexity
from tfp_flows.ood import metrics
from tfp_flows.ood import typicality

# ------------------------------------------------------ brute-force references


def _pairwise_auroc(neg, pos):
  """P(pos > neg) + P(pos = neg) / 2 by comparing every pair."""
  neg, pos = np.asarray(neg, float), np.asarray(pos, float)
  greater = (pos[:, None] > neg[None, :]).sum()
  equal = (pos[:, None] == neg[None, :]).sum()
  return (greater + 0.5 * equal) / (neg.size * pos.size)


def _loop_thresholds(neg, pos):
  """`(t, fraction of pos >= t, fraction of neg >= t, flagged)`, t descending
  over the distinct pooled values."""
  neg, pos = np.asarray(neg, float), np.asarray(pos, float)
  for t in sorted(set(neg.tolist()) | set(pos.tolist()), reverse=True):
    yield (t, np.mean(pos >= t), np.mean(neg >= t),
           int((pos >= t).sum() + (neg >= t).sum()))


def _loop_aupr(neg, pos):
  """Sum over thresholds of (recall step) * precision."""
  total, previous_recall = 0., 0.
  for _, recall, _, flagged in _loop_thresholds(neg, pos):
    precision = recall * len(pos) / flagged
    total += (recall - previous_recall) * precision
    previous_recall = recall
  return total


def _loop_fpr(neg, pos, tpr):
  """FPR at the highest threshold whose TPR reaches `tpr`."""
  for _, true_rate, false_rate, _ in _loop_thresholds(neg, pos):
    if true_rate >= tpr - 1e-12:
      return false_rate
  raise AssertionError('unreachable: the lowest threshold flags everything')


# ------------------------------------------------------------------ AUROC


def test_auroc_of_identical_lists_is_one_half():
  scores = np.array([0.3, 1.2, 1.2, 5., -2.])
  assert metrics.auroc(scores, scores) == 0.5
  assert _pairwise_auroc(scores, scores) == 0.5


def test_auroc_of_perfectly_separated_lists_is_one():
  neg, pos = np.arange(10.), np.arange(10.) + 10.
  assert metrics.auroc(neg, pos) == 1.
  assert _pairwise_auroc(neg, pos) == 1.
  assert metrics.auroc(pos, neg) == 0.


def test_auroc_matches_pairwise_count_on_random_data_with_ties():
  rng = np.random.default_rng(3)
  neg = rng.integers(0, 12, 300)
  pos = rng.integers(3, 15, 200).astype(np.float32)
  assert metrics.auroc(neg, pos) == pytest.approx(_pairwise_auroc(neg, pos),
                                                  abs=1e-12)


# ------------------------------------------------------------------- AUPR


@pytest.mark.parametrize('neg, pos, expected', [
    # 0.8 (OoD): P=1, R=1/2; 0.4 (in); 0.35 (OoD): P=2/3, R=1.
    ([0.1, 0.4], [0.35, 0.8], 0.5 * 1 + 0.5 * 2 / 3),
    # Tie at 1 between two in and one OoD: 2 -> P=1, R=1/2; 1 -> P=2/4, R=1.
    ([0., 1., 1.], [1., 2.], 0.5 * 1 + 0.5 * 0.5),
    # All OoD above all in: precision 1 at every recall step.
    ([0., 1.], [2., 3., 4.], 1.),
    # One shared value: a single threshold with P = m / (n + m).
    ([7., 7., 7.], [7.], 0.25),
])
def test_aupr_by_hand(neg, pos, expected):
  assert metrics.aupr(neg, pos) == pytest.approx(expected, abs=1e-12)
  assert _loop_aupr(neg, pos) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_aupr_matches_definition_on_random_data_with_ties(seed):
  rng = np.random.default_rng(seed)
  neg = rng.integers(0, 20, 150).astype(float)
  pos = rng.integers(5, 25, 90).astype(float)
  assert metrics.aupr(neg, pos) == pytest.approx(_loop_aupr(neg, pos),
                                                 abs=1e-12)


def test_aupr_ignores_the_order_of_tied_scores():
  neg, pos = [1., 2., 2., 3.], [2., 2., 4.]
  assert metrics.aupr(neg, pos) == metrics.aupr(neg[::-1], pos[::-1])


# ------------------------------------------------------------ FPR at TPR


def test_fpr_at_95_tpr_by_hand():
  pos = np.arange(1., 21.)  # 20 OoD scores 1..20.
  neg = np.array([0., 1., 1.5, 2., 5.])
  # 95% of 20 is 19 positives: the threshold is the 19th largest, 2, and
  # the in-distribution scores >= 2 are {2, 5}: 2 of 5 (the tie counts).
  assert metrics.fpr_at_tpr(neg, pos) == 0.4
  # 50%: 10 positives, threshold 11, no in-distribution score reaches it.
  assert metrics.fpr_at_tpr(neg, pos, tpr=0.5) == 0.
  # 99%: all 20 positives, threshold 1, flags 4 of 5.
  assert metrics.fpr_at_tpr(neg, pos, tpr=0.99) == 0.8


@pytest.mark.parametrize('tpr', [0.95, 0.8, 0.5, 0.1])
def test_fpr_matches_threshold_loop_on_random_data_with_ties(tpr):
  rng = np.random.default_rng(7)
  neg = rng.integers(0, 30, 201).astype(float)
  pos = rng.integers(10, 40, 77).astype(float)
  assert metrics.fpr_at_tpr(neg, pos, tpr) == pytest.approx(
      _loop_fpr(neg, pos, tpr), abs=1e-12)


# -------------------------------------------------------------- bootstrap


def test_bootstrap_resamples_match_brute_force_metrics():
  # Re-draw the documented resamples (negatives then positives, one
  # generator) and compute every metric by brute force on each.
  rng = np.random.default_rng(11)
  neg = rng.integers(0, 15, 40).astype(float)
  pos = rng.integers(4, 20, 30).astype(float)
  num_resamples, seed = 60, 5
  result = metrics.detection_metrics(neg, pos, num_resamples=num_resamples,
                                     confidence=0.9, seed=seed)
  draws = np.random.default_rng(seed)
  neg_idx = draws.integers(0, neg.size, (num_resamples, neg.size))
  pos_idx = draws.integers(0, pos.size, (num_resamples, pos.size))
  values = np.array([[_pairwise_auroc(neg[i], pos[j]),
                      _loop_aupr(neg[i], pos[j]),
                      _loop_fpr(neg[i], pos[j], 0.95)]
                     for i, j in zip(neg_idx, pos_idx)])
  lows, highs = np.quantile(values, [0.05, 0.95], axis=0)
  for column, name in enumerate(['auroc', 'aupr', 'fpr_at_tpr']):
    interval = getattr(result, name)
    assert interval.low == pytest.approx(lows[column], abs=1e-12), name
    assert interval.high == pytest.approx(highs[column], abs=1e-12), name
  assert result.auroc.value == metrics.auroc(neg, pos)
  assert result.aupr.value == metrics.aupr(neg, pos)
  assert result.fpr_at_tpr.value == metrics.fpr_at_tpr(neg, pos)


def _gaussian_scores(n, seed):
  rng = np.random.default_rng(seed)
  return rng.normal(0., 1., n), rng.normal(1., 1., n)


def test_bootstrap_interval_contains_point_and_shrinks_with_more_data():
  widths = []
  for n in (100, 2000):
    result = metrics.detection_metrics(*_gaussian_scores(n, seed=n),
                                       num_resamples=300)
    for name in ('auroc', 'aupr', 'fpr_at_tpr'):
      interval = getattr(result, name)
      assert interval.low <= interval.value <= interval.high, (n, name)
    widths.append([getattr(result, name).high - getattr(result, name).low
                   for name in ('auroc', 'aupr', 'fpr_at_tpr')])
  # Width ~ 1 / sqrt(n): 20x the data should give about 1/4.5 the width.
  assert np.all(np.array(widths[1]) < 0.5 * np.array(widths[0])), widths


def test_bootstrap_is_seeded_and_reports_its_settings():
  neg, pos = _gaussian_scores(50, seed=0)
  first = metrics.detection_metrics(neg, pos, num_resamples=100, seed=3)
  assert first == metrics.detection_metrics(neg, pos, num_resamples=100,
                                            seed=3)
  assert first != metrics.detection_metrics(neg, pos, num_resamples=100,
                                            seed=4)
  as_dict = first.as_dict()
  assert as_dict['auroc'] == {'value': first.auroc.value,
                              'low': first.auroc.low,
                              'high': first.auroc.high}
  assert (as_dict['num_negative'], as_dict['num_positive'],
          as_dict['num_resamples'], as_dict['tpr']) == (50, 50, 100, 0.95)


def test_bootstrap_fills_every_chunk_of_resamples(monkeypatch):
  neg, pos = _gaussian_scores(300, seed=1)
  whole = metrics.detection_metrics(neg, pos, num_resamples=400)
  # 600 distinct values: 7 resamples a chunk, the last chunk partial.
  monkeypatch.setattr(metrics, '_MAX_CELLS', 7 * 600)
  chunked = metrics.detection_metrics(neg, pos, num_resamples=400)
  assert chunked == metrics.detection_metrics(neg, pos, num_resamples=400)
  # Chunks change which resamples are drawn, not what they estimate.
  for name in ('auroc', 'aupr', 'fpr_at_tpr'):
    a, b = getattr(whole, name), getattr(chunked, name)
    assert a.value == b.value
    assert a.low == pytest.approx(b.low, abs=0.03), name
    assert a.high == pytest.approx(b.high, abs=0.03), name


# ----------------------------------------------------------- decision flips


def test_decision_flips_by_hand():
  clean = np.arange(1., 21.)  # 20 images; keep 95% = 19 -> threshold 19.
  transformed = clean.copy()
  transformed[0] = 25.  # in -> out.
  transformed[19] = 3.  # out (20 > 19) -> in.
  transformed[5] = 19.  # in -> in: equal to the threshold is still in.
  transformed[10] = 0.  # in -> in.
  result = metrics.decision_flips(clean, transformed)
  assert result == (19., 0.1, 0.05, 0.05)
  threshold, flips, in_to_out, out_to_in = result
  assert result.threshold == threshold
  assert in_to_out + out_to_in == flips


def test_keep_threshold_is_the_decision_flips_threshold():
  clean = np.random.default_rng(1).normal(size=57)
  assert metrics.keep_threshold(clean) == metrics.decision_flips(
      clean, clean).threshold
  assert metrics.keep_threshold(np.arange(1., 21.)) == 19.
  assert metrics.keep_threshold(np.arange(1., 21.), keep=0.5) == 10.


def test_auroc_averages_ties_of_infinite_scores():
  # +inf tied in both sets is a tie (half a pair), not an order: pairs
  # (inf, inf) 0.5, (inf, 1) 0, (0, inf) 1, (0, 1) 1 -> 2.5 / 4.
  assert metrics.auroc([np.inf, 0.], [np.inf, 1.]) == 0.625
  assert metrics.auroc([-np.inf, 0.], [-np.inf, 1.]) == 0.625
  point = metrics.detection_metrics([np.inf, 0.], [np.inf, 1.],
                                    num_resamples=50).auroc
  assert point.low <= point.value <= point.high


def test_decision_flips_keeps_at_least_keep_of_clean_images():
  clean = np.random.default_rng(0).normal(size=101)
  result = metrics.decision_flips(clean, clean + 10., keep=0.9)
  assert np.mean(clean <= result.threshold) >= 0.9
  assert np.mean(clean <= np.nextafter(result.threshold, -np.inf)) < 0.9
  # Shifting everything up sends every kept image out.
  assert result.in_to_out == np.mean(clean <= result.threshold)
  assert result.out_to_in == 0.
  assert metrics.decision_flips(clean, clean).flip_fraction == 0.


# ------------------------------------------------------------- bad inputs


@pytest.mark.parametrize('function', [
    metrics.auroc, metrics.aupr, metrics.fpr_at_tpr,
    metrics.detection_metrics
])
@pytest.mark.parametrize('neg, pos, match', [
    ([], [1.], '`neg` is empty'),
    ([1.], np.array([]), '`pos` is empty'),
    ([1., np.nan], [1.], '`neg` contains NaN at index 1'),
    ([1.], [np.nan], '`pos` contains NaN at index 0'),
    (np.ones((2, 2)), [1.],
     r'`neg` must be a 1-D array \[N\]; got shape \(2, 2\)'),
    ([1.], 3., r'`pos` must be a 1-D array \[N\]; got shape \(\)'),
])
def test_metrics_reject_bad_scores(function, neg, pos, match):
  with pytest.raises(ValueError, match=match):
    function(neg, pos)


@pytest.mark.parametrize('tpr', [0., 1., 1.5, -0.2])
def test_fpr_rejects_tpr_outside_open_unit_interval(tpr):
  with pytest.raises(ValueError, match='`tpr` must be strictly between 0 '
                     'and 1'):
    metrics.fpr_at_tpr([0.], [1.], tpr)
  with pytest.raises(ValueError, match='`tpr` must be strictly between'):
    metrics.detection_metrics([0.], [1.], tpr=tpr)


def test_detection_metrics_rejects_bad_settings():
  with pytest.raises(ValueError, match='`confidence` must be strictly'):
    metrics.detection_metrics([0.], [1.], confidence=95)
  with pytest.raises(ValueError, match='`num_resamples` must be a positive'):
    metrics.detection_metrics([0.], [1.], num_resamples=0)
  with pytest.raises(TypeError, match='`tpr` must be a number'):
    metrics.fpr_at_tpr([0.], [1.], tpr='0.95')


def test_decision_flips_rejects_bad_inputs():
  with pytest.raises(ValueError, match='same images in the same order; got '
                     '3 and 2 scores'):
    metrics.decision_flips([1., 2., 3.], [1., 2.])
  with pytest.raises(ValueError, match='`clean_in` is empty'):
    metrics.decision_flips([], [])
  with pytest.raises(ValueError, match='`transformed_in` contains NaN'):
    metrics.decision_flips([1., 2.], [1., np.nan])
  for keep in (0., 1., 2.):
    with pytest.raises(ValueError, match='`keep` must be strictly between'):
      metrics.decision_flips([1., 2.], [1., 2.], keep=keep)


# -------------------------------------------------------- input complexity


def _constant_and_noise(n=6):
  constant, _ = data.load('constant', 'test', num_examples=n)
  noise, _ = data.load('uniform_noise', 'test', num_examples=n)
  return constant, noise


@pytest.mark.parametrize('compressor', ['png', 'zlib'])
def test_constant_images_are_less_complex_than_noise(compressor,
                                                     assert_all_finite):
  constant, noise = _constant_and_noise()
  constant_bpd = complexity.compressed_bits_per_dim(constant, compressor)
  noise_bpd = complexity.compressed_bits_per_dim(noise, compressor)
  assert_all_finite([constant_bpd, noise_bpd], shape=[6])
  assert constant_bpd.dtype == noise_bpd.dtype == np.float64
  assert constant_bpd.max() < 1. < 7.9 < noise_bpd.min()
  # Real digits lie between the two.
  digits, _ = data.load('mnist', 'test', num_examples=6)
  digit_bpd = complexity.compressed_bits_per_dim(digits, compressor)
  assert constant_bpd.max() < digit_bpd.min()
  assert digit_bpd.max() < noise_bpd.min()


def test_zlib_bits_per_dim_of_uniform_noise_exceeds_eight_minus_a_tenth():
  _, noise = _constant_and_noise()
  assert np.all(complexity.compressed_bits_per_dim(noise, 'zlib') > 7.9)


def test_compressed_bits_per_dim_is_bytes_times_eight_over_d():
  image = np.zeros((1, 4, 5, 3), np.uint8)
  expected = 8. * len(zlib.compress(image[0].tobytes(), 9)) / 60.
  assert complexity.compressed_bits_per_dim(image, 'zlib')[0] == expected


@pytest.mark.parametrize('compressor', ['png', 'zlib'])
def test_input_complexity_is_model_minus_compressed_bits(compressor):
  constant, noise = _constant_and_noise(n=3)
  images = np.concatenate([constant, noise])
  model_bpd = np.array([1., 2., 3., 8., 8., 8.], np.float32)
  scores = complexity.input_complexity(model_bpd, images, compressor)
  assert scores.dtype == np.float64 and scores.shape == (6,)
  np.testing.assert_array_equal(
      scores, model_bpd.astype(np.float64)
      - complexity.compressed_bits_per_dim(images, compressor))
  # Complexity explains noise's 8 bits/dim; a constant image at 8 bits/dim
  # would be far more surprising than its complexity, so more OoD.
  flat = complexity.input_complexity(np.full(6, 8.), images, compressor)
  assert flat[:3].min() > flat[3:].max()


def test_complexity_rejects_bad_inputs():
  images = np.zeros((2, 4, 4, 1), np.uint8)
  with pytest.raises(ValueError, match="Unknown compressor 'jpeg'; known: "
                     'png, zlib'):
    complexity.compressed_bits_per_dim(images, 'jpeg')
  with pytest.raises(ValueError, match='known: png, zlib'):
    complexity.input_complexity([1., 1.], images, 'gzip')
  with pytest.raises(TypeError, match='must be uint8 .* got dtype float32'):
    complexity.compressed_bits_per_dim(images.astype(np.float32), 'png')
  with pytest.raises(ValueError, match=r'rank 4, \[N, H, W, C\]; got shape '
                     r'\(4, 4, 1\)'):
    complexity.compressed_bits_per_dim(images[0], 'zlib')
  with pytest.raises(ValueError, match='PNG holds 1, 2, 3 or 4 channels'):
    complexity.compressed_bits_per_dim(np.zeros((1, 2, 2, 5), np.uint8),
                                       'png')
  with pytest.raises(ValueError, match='one value per image, shape \\[2\\]'):
    complexity.input_complexity([1., 1., 1.], images)
  with pytest.raises(ValueError, match='`model_bits_per_dim` contains NaN'):
    complexity.input_complexity([1., np.nan], images)
  with pytest.raises(ValueError, match='`model_bits_per_dim` must be a 1-D'):
    complexity.input_complexity(np.ones((2, 1)), images)


# -------------------------------------------------------------- typicality


def test_typicality_batches_are_disjoint_and_count_n_over_m():
  batches = typicality.typicality_batches(23, 5, seed=2)
  assert batches.shape == (4, 5)  # 23 // 5; the 3 left over are dropped.
  assert len(set(batches.ravel().tolist())) == 20
  assert set(batches.ravel().tolist()) <= set(range(23))
  assert not np.array_equal(batches,
                            typicality.typicality_batches(23, 5, seed=3))
  np.testing.assert_array_equal(batches,
                                typicality.typicality_batches(23, 5, seed=2))


def test_typicality_scores_are_batch_mean_distance_to_entropy():
  nll = np.arange(23.)
  scores = typicality.typicality_scores(nll, 5, entropy=10., seed=2)
  batches = typicality.typicality_batches(23, 5, seed=2)
  assert scores.dtype == np.float64 and scores.shape == (4,)
  np.testing.assert_allclose(scores, np.abs(nll[batches].mean(axis=1) - 10.))
  # One batch of everything: |mean - H|, whatever the order.
  assert typicality.typicality_scores(nll, 23, 12.)[0] == pytest.approx(1.)


def test_typicality_score_is_zero_when_every_nll_is_the_entropy():
  train_nll = np.full(50, 3.25)
  entropy = typicality.entropy_estimate(train_nll)
  assert entropy == 3.25
  np.testing.assert_array_equal(
      typicality.typicality_scores(np.full(40, 3.25), 4, entropy),
      np.zeros(10))


def test_typicality_rejects_bad_inputs():
  nll = np.ones(10)
  with pytest.raises(ValueError, match='`batch_size` must be a positive'):
    typicality.typicality_scores(nll, 0, 1.)
  with pytest.raises(ValueError, match='`batch_size` must be at most the '
                     'number of images, 10; got 11'):
    typicality.typicality_scores(nll, 11, 1.)
  with pytest.raises(TypeError, match='`batch_size` must be a positive'):
    typicality.typicality_scores(nll, 2.5j, 1.)
  with pytest.raises(ValueError, match='`nll` is empty'):
    typicality.typicality_scores([], 1, 1.)
  with pytest.raises(ValueError, match='`nll` contains NaN at index 2'):
    typicality.typicality_scores([1., 2., np.nan], 1, 1.)
  with pytest.raises(ValueError, match='`nll` must be finite; index 1 is inf'):
    typicality.typicality_scores([1., np.inf], 1, 1.)
  with pytest.raises(ValueError, match='`entropy` must be finite'):
    typicality.typicality_scores(nll, 2, np.inf)
  with pytest.raises(TypeError, match='`entropy` must be a real number'):
    typicality.typicality_scores(nll, 2, None)
  with pytest.raises(ValueError, match='`train_nll` is empty'):
    typicality.entropy_estimate([])
  with pytest.raises(ValueError, match=r'`train_nll` must be a 1-D array '
                     r'\[N\]; got shape \(2, 3\)'):
    typicality.entropy_estimate(np.ones((2, 3)))
