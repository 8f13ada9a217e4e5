"""Summary statistics with uncertainty; rank statistics (`utils.ranking`)."""

import numpy as np

from tfp_flows.utils.ranking import auroc
from tfp_flows.utils.ranking import rankdata

__all__ = ['auroc', 'bootstrap_mean_ci', 'rankdata', 'spearman', 'summarize']


def bootstrap_mean_ci(values, confidence=0.95, num_resamples=2000, seed=0):
  """Percentile bootstrap confidence interval of the mean.

  Args:
    values: 1-D array of floats.
    confidence: coverage of the interval. Default value: `0.95`.
    num_resamples: bootstrap resamples. Default value: `2000`.
    seed: seed of the resampling.

  Returns:
    `(low, high)` Python floats.
  """
  values = np.asarray(values, np.float64).ravel()
  if values.size == 0:
    raise ValueError('`values` is empty.')
  rng = np.random.default_rng(seed)
  means = np.empty(num_resamples)
  # Resample in chunks to bound memory for large test sets.
  chunk = max(1, 2_000_000 // values.size)
  for start in range(0, num_resamples, chunk):
    stop = min(num_resamples, start + chunk)
    idx = rng.integers(0, values.size, (stop - start, values.size))
    means[start:stop] = values[idx].mean(axis=1)
  alpha = (1. - confidence) / 2.
  low, high = np.quantile(means, [alpha, 1. - alpha])
  return float(low), float(high)


def spearman(a, b):
  """Spearman rank correlation of two paired 1-D samples (ties averaged).

  The Pearson correlation of `rankdata(a)` and `rankdata(b)`.

  Returns:
    Python float in [-1, 1], or NaN when either sample is constant or has
    fewer than 2 values (the correlation is undefined there).

  Raises:
    ValueError: if the samples have different lengths or contain NaN.
  """
  a = np.asarray(a, np.float64).ravel()
  b = np.asarray(b, np.float64).ravel()
  if a.size != b.size:
    raise ValueError(f'Paired samples must have equal length; got {a.size} '
                     f'and {b.size}.')
  if np.isnan(a).any() or np.isnan(b).any():
    raise ValueError('Samples must not contain NaN.')
  if a.size < 2:
    return float('nan')
  ra, rb = rankdata(a), rankdata(b)
  ra -= ra.mean()
  rb -= rb.mean()
  denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
  return float((ra * rb).sum() / denom) if denom > 0 else float('nan')


def summarize(values, seed=0):
  """Mean, 95% bootstrap CI of the mean, median, std, min, max, count."""
  values = np.asarray(values, np.float64).ravel()
  low, high = bootstrap_mean_ci(values, seed=seed)
  return dict(mean=float(values.mean()), ci95=[low, high],
              median=float(np.median(values)), std=float(values.std(ddof=1))
              if values.size > 1 else 0., min=float(values.min()),
              max=float(values.max()), count=int(values.size))
