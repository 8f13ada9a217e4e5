"""Rank statistics: ranks with ties averaged, and the AUROC built on them.

Below every layer that reports them (training logs the OoD AUROC of each
evaluation; the analysis builds on the same ranks).
"""

import numpy as np

__all__ = ['auroc', 'rankdata']


def rankdata(values):
  """Ranks 1..N of a 1-D array, ties given the average of their ranks.

  Returns:
    float64 array `[N]`.
  """
  values = np.asarray(values, np.float64).ravel()
  order = np.argsort(values, kind='mergesort')
  sorted_vals = values[order]
  # Not np.diff: inf - inf is NaN, which would split a tie of infinities.
  boundaries = np.flatnonzero(sorted_vals[1:] != sorted_vals[:-1]) + 1
  starts = np.concatenate([[0], boundaries]).astype(np.int64)
  stops = np.concatenate([boundaries, [values.size]]).astype(np.int64)
  # Rank of every member of a tie group = mean of positions start+1..stop.
  group_rank = (starts + stops + 1) / 2.
  ranks = np.empty(values.size)
  ranks[order] = np.repeat(group_rank, stops - starts)
  return ranks


def auroc(scores_negative, scores_positive):
  """Area under the ROC curve for telling positives from negatives by score.

  Equals P(score_pos > score_neg) + P(tie) / 2 (Mann-Whitney U / (n m)).
  With bits/dim as the score, in-distribution test images as negatives and
  OoD images as positives, AUROC < 0.5 means the OoD set looks *more* likely.

  Args:
    scores_negative: 1-D array.
    scores_positive: 1-D array.

  Returns:
    Python float in [0, 1].
  """
  neg = np.asarray(scores_negative, np.float64).ravel()
  pos = np.asarray(scores_positive, np.float64).ravel()
  if neg.size == 0 or pos.size == 0:
    raise ValueError('Both score sets must be non-empty.')
  ranks = rankdata(np.concatenate([neg, pos]))
  rank_sum_pos = ranks[neg.size:].sum()
  u = rank_sum_pos - pos.size * (pos.size + 1) / 2.
  return float(u / (neg.size * pos.size))
