"""Per-image bits/dim of continuous images (the paper's noise experiment).

Discrete images are scored with `evaluate_bits_per_dim` (the model's
discrete likelihood). Continuous images (float, `[0, 1]` scale) are scored
with the model's continuous `log_density`, put on the same bits/dim scale as
the discrete likelihood:

```none
bits/dim = -(log_density(y) - D_model * n_bits * ln 2) / (D * ln 2)
```

For a flow trained with uniform dequantisation this is the discrete
likelihood the density would give a bin of width `1 / 2**n_bits` around `y`
(the OpenAI Glow convention), so a noisy image and its clean original are
compared on the scale of every other table in the study.
"""

import math

import numpy as np

from tfp_flows.models import discrete
from tfp_flows.utils.validation import positive_int

__all__ = ['CONTINUOUS_SCORES', 'continuous_bits_per_dim',
           'continuous_scores_for', 'density_allows_any_real', 'evaluation_name']

# How a continuous image is scored: 'density', the model's normalised
# `log_density` (every model); 'conditioned', a PixelCNN's
# `noisy_log_prob`, whose network conditions on the noisy values (the
# paper's reading of PixelCNN; not a density, see `PixelCNN.noisy_log_prob`).
CONTINUOUS_SCORES = ('density', 'conditioned')

# The per-image table's `evaluation` value of each score.
_EVALUATION = {'density': 'continuous', 'conditioned': 'conditioned'}


def evaluation_name(score):
  """The per-image table's `evaluation` label of a continuous score."""
  if score not in _EVALUATION:
    raise ValueError(f'`score` must be one of {CONTINUOUS_SCORES}; got '
                     f'{score!r}.')
  return _EVALUATION[score]


def continuous_scores_for(model):
  """The continuous scores `model` supports: `'density'`, and
  `'conditioned'` for models with `noisy_log_prob` (PixelCNN)."""
  return ('density',) + (('conditioned',) if hasattr(
      model, 'noisy_log_prob') else ())


def density_allows_any_real(model):
  """Whether `model.log_density` is defined outside `[0, 1]` (flows: yes).

  Glow's density is over all of R^D (its flow has no squashing), so noisy
  values below 0 or above 1 are scored as they are, as in the paper. The
  PixelCNN's dequantised density is 0 outside the unit cube; inputs to it
  are clipped into `[0, 1]` first (`continuous_bits_per_dim` reports how
  many values that touched).
  """
  return hasattr(model, 'encode')


def continuous_bits_per_dim(model, y, batch_size=256, progress=None,
                            return_latents=False, score='density'):
  """Bits/dim of continuous images under `model.log_density`, in batches.

  With `score='conditioned'` (PixelCNN only) the images are scored with
  `model.noisy_log_prob` instead, `bits/dim = -noisy_log_prob / (D ln 2)`:
  the network sees the noisy values; values outside `[0, 1]` are scored as
  the end grey level whose tail contains them (counted as clipped).

  Args:
    model: an `ImageDensityModel` with `log_density`.
    y: float array `[N, H, W, C]` on the `[0, 1]` scale.
    batch_size: Python `int` images per call.
    progress: optional callable `(done, total)` called after each batch.
    return_latents: Python `bool`: also return the latents the flow maps `y`
      to, from the same pass (`model.log_density_and_latents`, Glow only).
    score: one of `CONTINUOUS_SCORES`. Default value: `'density'`.

  Returns:
    `(bits_per_dim, clipped_fraction)`: float64 arrays `[N]`; the second is
    the fraction of each image's subpixels clipped into `[0, 1]` (always 0
    for models whose density covers all reals). With `return_latents`, a
    third element: the list of float32 arrays `[N, h_l, w_l, c_l]`, finest
    level first.
  """
  evaluation_name(score)
  if score == 'conditioned' and not hasattr(model, 'noisy_log_prob'):
    raise TypeError(f'score=\'conditioned\' needs a model with '
                    f'`noisy_log_prob` (PixelCNN); got {type(model).__name__}.')
  batch_size = positive_int(batch_size, 'batch_size')
  if return_latents and score != 'density':
    raise ValueError('`return_latents` needs score=\'density\' (the '
                     'latents come from the flow\'s density pass).')
  if return_latents and not hasattr(model, 'log_density_and_latents'):
    raise TypeError(f'{type(model).__name__} has no latents to return.')
  y = np.asarray(y, np.float32)
  if not np.isfinite(y).all():
    raise ValueError('Continuous images contain NaN or infinite values.')
  n = len(y)
  bpd = np.empty(n, np.float64)
  clipped = np.zeros(n, np.float64)
  latents = None
  offset = model.num_model_subpixels * model.n_bits * math.log(2.)
  conditioned = score == 'conditioned'
  any_real = density_allows_any_real(model)
  for start in range(0, n, batch_size):
    batch = y[start:start + batch_size]
    stop = start + len(batch)
    if conditioned:
      # Levels floor(256 y) outside 0..255: the end level's tail scores them.
      outside = (batch < 0.) | (batch >= 1.)
      clipped[start:stop] = outside.reshape(len(batch), -1).mean(axis=1)
      log_p = np.asarray(model.noisy_log_prob(batch), np.float64)
    else:
      if not any_real:
        outside = (batch < 0.) | (batch > 1.)
        clipped[start:stop] = outside.reshape(len(batch), -1).mean(axis=1)
        batch = np.clip(batch, 0., 1.)
      if return_latents:
        log_density, batch_latents = model.log_density_and_latents(batch)
        if latents is None:
          latents = [np.empty((n,) + tuple(z.shape[1:]), np.float32)
                     for z in batch_latents]
        for level, z in enumerate(batch_latents):
          latents[level][start:stop] = np.asarray(z)
      else:
        log_density = model.log_density(batch)
      # The density on [0, 1]^D' as a discrete likelihood of its bin.
      log_p = np.asarray(log_density, np.float64) - offset
    bpd[start:stop] = np.asarray(discrete.bits_per_dim(
        log_p, model.num_subpixels), np.float64)
    if progress is not None:
      progress(stop, n)
  if return_latents:
    return bpd, clipped, latents
  return bpd, clipped
