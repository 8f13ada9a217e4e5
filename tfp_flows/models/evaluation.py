"""Batched evaluation of per-image bits/dim."""

import numpy as np

from tfp_flows.models import discrete
from tfp_flows.utils.validation import positive_int

__all__ = ['evaluate_bits_per_dim']


def evaluate_bits_per_dim(model, images, batch_size=256, seed=0,
                          progress=None):
  """Per-image bits/dim of `images` under `model`, in batches.

  Args:
    model: an `ImageDensityModel`.
    images: uint8 array `[N, H, W, C]`.
    batch_size: Python `int` images per call.
    seed: Python `int`; batch `i` uses dequantisation seed `(seed, i)`, so
      results are reproducible and do not depend on anything else.
    progress: optional callable `(done, total)` called after each batch.

  Returns:
    float64 numpy array `[N]` of bits/dim.
  """
  batch_size = positive_int(batch_size, 'batch_size')
  out = np.empty(len(images), np.float64)
  for i, start in enumerate(range(0, len(images), batch_size)):
    batch = images[start:start + batch_size]
    log_p = model.log_prob(batch, seed=(seed, i))
    out[start:start + len(batch)] = discrete.bits_per_dim(
        log_p, model.num_subpixels).numpy()
    if progress is not None:
      progress(start + len(batch), len(images))
  return out
