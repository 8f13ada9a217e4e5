"""The per-image table of the SIT study and its CSV form.

The table is column-oriented: a dict from column name to a 1-D numpy array,
one row per (model, data set, image, SIT). Columns (`COLUMNS`):

  model, dataset, role ('in' | 'ood'), split, index (in the split), label
  (-1 for unlabelled sets), sit, evaluation ('discrete' | 'continuous' |
  'conditioned'), bpd_before, bpd_after (bits/dim; `continuous` rows use the
  model's density at the clean image's continuous point as "before";
  `conditioned` rows, PixelCNN only, score the same continuous images with
  `PixelCNN.noisy_log_prob`, its network conditioned on the noisy values),
  classifier_pred_before/after (-1 without a classifier), confidence_before
  / after (the classifier's top-class probability; NaN without one),
  pixel_change (mean |after - before| in grey levels), psnr (dB; inf when
  unchanged), clipped_fraction (subpixels clipped into [0, 1] before a
  density that is 0 outside it; continuous rows only).
"""

import csv
import io

import numpy as np

from tfp_flows.utils import atomic

__all__ = ['COLUMNS', 'concatenate', 'read_csv', 'write_csv']

_STR = ('model', 'dataset', 'role', 'split', 'sit', 'evaluation')
_INT = ('index', 'label', 'classifier_pred_before', 'classifier_pred_after')
_FLOAT = ('bpd_before', 'bpd_after', 'confidence_before', 'confidence_after',
          'pixel_change', 'psnr', 'clipped_fraction')
COLUMNS = ('model', 'dataset', 'role', 'split', 'index', 'label', 'sit',
           'evaluation', 'bpd_before', 'bpd_after', 'classifier_pred_before',
           'classifier_pred_after', 'confidence_before', 'confidence_after',
           'pixel_change', 'psnr', 'clipped_fraction')
_DTYPES = {**{c: object for c in _STR}, **{c: np.int64 for c in _INT},
           **{c: np.float64 for c in _FLOAT}}


def concatenate(blocks):
  """Stacks tables (dicts of equal-length columns) row-wise, in order."""
  blocks = list(blocks)
  if not blocks:
    return {c: np.zeros(0, _DTYPES[c]) for c in COLUMNS}
  return {c: np.concatenate([np.asarray(b[c], _DTYPES[c]) for b in blocks])
          for c in COLUMNS}


def write_csv(path, table):
  """Writes `table` to `path` atomically (floats with 6 decimals)."""
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator='\n')
  writer.writerow(COLUMNS)
  cols = []
  for c in COLUMNS:
    values = table[c]
    if c in _FLOAT:
      cols.append([f'{v:.6f}' if np.isfinite(v) else str(v) for v in values])
    else:
      cols.append([str(v) for v in values])
  writer.writerows(zip(*cols))
  atomic.atomic_write_text(path, buf.getvalue())


def read_csv(path):
  """Reads a table written by `write_csv` back into typed numpy columns."""
  with open(path, newline='') as f:
    reader = csv.reader(f)
    header = next(reader)
    if tuple(header) != COLUMNS:
      raise ValueError(f'{path} is not a per-image table: header {header}.')
    rows = list(reader)
  columns = list(zip(*rows)) if rows else [()] * len(COLUMNS)
  parse = {**{c: float for c in _FLOAT}, **{c: int for c in _INT}}
  return {c: np.asarray([parse.get(c, str)(x) for x in v], _DTYPES[c])
          for c, v in zip(COLUMNS, columns)}
