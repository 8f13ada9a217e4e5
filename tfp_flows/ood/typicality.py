"""The typicality test of Nalisnick et al. (2019), a batch-level OoD score.

A model's typical set holds inputs whose NLL is close to the entropy of the
model distribution, which may exclude the highest-density inputs. The test
asks whether a batch of M images is typical: its score is
|mean NLL of the batch - H|, with the entropy H estimated by the mean NLL of
held-out training images. Higher = less typical = more OoD.

Units: bits/dim throughout (`model.bits_per_dim(images)` for both the
held-out training images and the tested ones). Any one unit would give the
same order of scores, but NLL and entropy must share it, and bits/dim keeps
the scores comparable across image sizes.
"""

import numbers

import numpy as np

from tfp_flows.ood import metrics
from tfp_flows.utils.validation import positive_int

__all__ = ['entropy_estimate', 'typicality_batches', 'typicality_scores']


def entropy_estimate(train_nll):
  """H: the mean NLL of held-out training images.

  Args:
    train_nll: NLL of each held-out training image in bits/dim (the unit
      the tested NLLs will be given in), 1-D `[N]`, finite.

  Returns:
    Python float, bits/dim.

  Raises:
    ValueError: `train_nll` not 1-D, empty, or with NaN or +-inf.
  """
  return float(metrics.as_scores(train_nll, 'train_nll', finite=True).mean())


def typicality_batches(num_images, batch_size, seed=0):
  """A seeded partition of images 0..N-1 into disjoint batches of M.

  `np.random.default_rng(seed).permutation(N)`, cut into N // M rows of M;
  the last N mod M images of the permutation are dropped, so every batch has
  exactly M images (a smaller batch would have a noisier mean and a score
  on another scale) and which images are dropped is random, not the tail.

  Args:
    num_images: N, integer >= 1.
    batch_size: M, integer in [1, N].
    seed: seed of the permutation (anything `default_rng` takes).

  Returns:
    int64 `[N // M, M]` image indices; no index appears twice.

  Raises:
    ValueError: N or M < 1, or M > N.
    TypeError: N or M not an integer.
  """
  num_images = positive_int(num_images, 'num_images')
  batch_size = positive_int(batch_size, 'batch_size')
  if batch_size > num_images:
    raise ValueError(f'`batch_size` must be at most the number of images, '
                     f'{num_images}; got {batch_size}.')
  num_batches = num_images // batch_size
  order = np.random.default_rng(seed).permutation(num_images)
  return order[:num_batches * batch_size].reshape(num_batches, batch_size)


def typicality_scores(nll, batch_size, entropy, seed=0):
  """|mean NLL of each batch - entropy| over a seeded partition into batches.

  Batches are `typicality_batches(N, batch_size, seed)`: random, disjoint,
  M images each, the N mod M left over dropped. Score the in-distribution
  test set and the OoD set with this and pass both to `metrics` for a
  batch-level AUROC (M = 1 gives |NLL - H| per image).

  Args:
    nll: NLL of each image in bits/dim, 1-D `[N]`, finite.
    batch_size: M, integer in [1, N].
    entropy: H in bits/dim, e.g. `entropy_estimate(train_nll)`; finite.
    seed: seed of the partition. Default value: `0`.

  Returns:
    float64 `[N // M]` in bits/dim; higher = more OoD.

  Raises:
    ValueError: `nll` not 1-D, empty, or with NaN or +-inf; M < 1 or M > N;
      `entropy` not finite.
    TypeError: M not an integer; `entropy` not a real number.
  """
  nll = metrics.as_scores(nll, 'nll', finite=True)
  if isinstance(entropy, bool) or not isinstance(entropy, numbers.Real):
    raise TypeError('`entropy` must be a real number (bits/dim); got '
                    f'{type(entropy).__name__} {entropy!r}.')
  if not np.isfinite(entropy):
    raise ValueError(f'`entropy` must be finite; got {entropy!r}.')
  batches = typicality_batches(nll.size, batch_size, seed)
  return np.abs(nll[batches].mean(axis=1) - float(entropy))
