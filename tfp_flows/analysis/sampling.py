"""Seeded, class-stratified subsets of a data set for the SIT study."""

import numpy as np

from tfp_flows.utils.validation import positive_int

__all__ = ['stratified_indices']


def stratified_indices(labels, num_images, seed=0):
  """Indices of a seeded, class-stratified sample of `num_images` examples.

  Each class gets `num_images` times its share of the data set, rounded by
  largest remainder so the counts sum to `num_images`; within a class the
  examples are drawn uniformly without replacement. Unlabelled sets (labels
  `-1`, the synthetic ones) are one class. The same labels, `num_images` and
  `seed` give the same indices, returned in increasing order (data set
  order), so per-image results line up with the data set's own indexing.

  Args:
    labels: int array `[N]`.
    num_images: Python `int` in `[1, N]`, or `None` for all `N` images.
    seed: non-negative Python `int`.

  Returns:
    int64 array `[num_images]` of distinct indices into `labels`, sorted.

  Raises:
    TypeError: `num_images` neither None nor a number (or a bool).
    ValueError: `num_images` not a positive integer or larger than `N`.
  """
  labels = np.asarray(labels).ravel()
  n = labels.size
  if num_images is None:
    return np.arange(n, dtype=np.int64)
  num_images = positive_int(num_images, 'num_images')
  if num_images > n:
    raise ValueError(f'`num_images` ({num_images}) exceeds the {n} images of '
                     'the data set.')
  if num_images == n:
    return np.arange(n, dtype=np.int64)
  classes, counts = np.unique(labels, return_counts=True)
  quota = counts * (num_images / n)
  take = np.floor(quota).astype(np.int64)
  # Largest remainder; ties broken by class order for determinism.
  short = num_images - int(take.sum())
  take[np.argsort(-(quota - take), kind='stable')[:short]] += 1
  rng = np.random.default_rng(seed)
  chosen = [rng.choice(np.flatnonzero(labels == c), k, replace=False)
            for c, k in zip(classes, take) if k]
  return np.sort(np.concatenate(chosen)).astype(np.int64)
