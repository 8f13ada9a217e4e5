"""Additive noise: the paper's continuous noise, and a discrete counterpart.

Both draw a full `[H, W, C]` noise array for every image from
`base.rng_for(seed, indices[i])`, whatever the mask, so a background pixel
gets the same noise under `mask='all'` and `mask='background'`, and results
do not depend on batching or subsetting.
"""

import math

import numpy as np

from tfp_flows.sits import base

__all__ = ['ContinuousNoise', 'DiscreteNoise', 'DISTRIBUTIONS', 'MASKS']

DISTRIBUTIONS = ('normal', 'normal_shifted', 'uniform_negative')
MASKS = ('all', 'background')


def _mask(images, mask):
  """bool mask `[N, H, W, C]`: True on the subpixels to perturb."""
  if mask == 'all':
    return np.ones(images.shape, np.bool_)
  return base.background_mask(images)


def _draws(sit, seed, indices, shape, dtype):
  """`sit.draw` for every image, stacked: array `shape` of `dtype`.

  Image `i`'s noise comes from `base.rng_for(seed, indices[i])` whatever the
  batch, so results do not depend on batching or subsetting.
  """
  noise = np.empty(shape, dtype)
  for i, index in enumerate(indices):
    noise[i] = sit.draw(base.rng_for(seed, index), shape[1:])
  return noise


class ContinuousNoise(base.SIT):
  """The paper's noise on the continuous scale; kind `'continuous'`.

  ```none
  y = (x + offset) / 256 + eps * m * n                   ([0, 1] scale)
  offset = 0 (placement 'edge', the paper's) or 0.5 ('centre')
  ```

  with `m = 1` everywhere (`mask='all'`) or the background mask
  `m = [x / 255 < 0.3]` (`mask='background'`), and per subpixel, i.i.d.:

  * `'normal'`: `n ~ N(0, 1)`.
  * `'normal_shifted'`: `n = 1/256 + N(0, 1)` (the paper's
    `eps * (1/256 + N(0, 1))`).
  * `'uniform_negative'`: `n ~ U[-1/256, 0)` (the paper's
    `eps * U[-1/256, 0]`).

  Placement (`base.PLACEMENTS`). The paper's images are `x / 256` and its
  models are trained on `x / 256 + U[0, 1/256)`: the clean point is the
  lower edge of the pixel's dequantisation bin, so negative noise leaves the
  region seen in training (below 0 on a black background). That is
  `placement='edge'`, the default. `placement='centre'` starts from
  `(x + 0.5) / 256`, half a bin from both edges: noise smaller than half a
  grey level then stays inside the bin (eps = 0.001 is 0.26 grey levels).
  The evaluator compares with the density at the same clean point
  (`offset`), so "before" differs between the placements too.

  `n` is drawn for image `i` as one `[H, W, C]` array (C order) from
  `np.random.default_rng([seed, indices[i]])` with `standard_normal` or
  `uniform(-1/256, 0)`; the two placements draw the same `n`. `y` is
  computed in float64 and rounded once to float32. Values are not clipped:
  `y` may leave `[0, 1]` (or its pixel's dequantisation bin); how such
  points are scored is the evaluator's call.
  """

  def __init__(self, eps=0.001, distribution='normal', mask='all',
               placement='edge'):
    """Builds the transformation.

    Args:
      eps: non-negative finite Python float, noise scale on the `[0, 1]`
        scale (0.001 is about a quarter of a grey level). Default value:
        `0.001`.
      distribution: one of `DISTRIBUTIONS`. Default value: `'normal'`.
      mask: one of `MASKS`. Default value: `'all'`.
      placement: `'edge'` (the paper's: clean point `x / 256`) or
        `'centre'` (`(x + 0.5) / 256`); see the class docstring. Default
        value: `'edge'`.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    if not base.is_real(eps):
      raise TypeError(f'`eps` must be a real number; got {eps!r}.')
    if not (math.isfinite(float(eps)) and float(eps) >= 0.):
      raise ValueError(f'`eps` must be finite and >= 0; got {eps!r}.')
    self._eps = float(eps)
    self._distribution = base.check_choice(distribution, 'distribution',
                                           DISTRIBUTIONS)
    self._mask = base.check_choice(mask, 'mask', MASKS)
    self._placement = base.check_choice(placement, 'placement',
                                        tuple(base.PLACEMENTS))

  @property
  def eps(self):
    return self._eps

  @property
  def distribution(self):
    return self._distribution

  @property
  def mask(self):
    return self._mask

  @property
  def placement(self):
    return self._placement

  @property
  def offset(self):
    """Position of the clean point in its bin, in grey levels (0 or 0.5)."""
    return base.PLACEMENTS[self._placement]

  @property
  def name(self):
    # The placement is always in the name: the same noise at the two
    # placements gives different results, and no name may mean either.
    return (f'noise_{self._distribution}_eps{base.format_float(self._eps)}_'
            f'{self._mask}_{self._placement}')

  @property
  def kind(self):
    return 'continuous'

  def config(self):
    return dict(type='ContinuousNoise', eps=self._eps,
                distribution=self._distribution, mask=self._mask,
                placement=self._placement)

  def draw(self, rng, shape):
    """The noise `n` (before `eps` and the mask): float64 array `shape`."""
    if self._distribution == 'uniform_negative':
      return rng.uniform(-1. / base.NUM_LEVELS, 0., size=shape)
    n = rng.standard_normal(size=shape)
    if self._distribution == 'normal_shifted':
      n = n + 1. / base.NUM_LEVELS
    return n

  def _apply(self, images, seed, indices, model, batch_size):
    del model, batch_size  # No model.
    # The draws stay per image (they define the randomness); the arithmetic
    # runs once over the batch instead of per image.
    noise = _draws(self, seed, indices, images.shape, np.float64)
    noise *= _mask(images, self._mask)
    y = (images.astype(np.float64) + self.offset) / base.NUM_LEVELS
    return (y + self._eps * noise).astype(np.float32)


class DiscreteNoise(base.SIT):
  """Integer noise on grey levels; kind `'discrete'`.

  ```none
  x' = clip(x + m * n, 0, 255),   n ~ Uniform{-k, ..., k}   (grey levels)
  ```

  `n` is uniform over the `2k + 1` integers (zero included), i.i.d. per
  subpixel, drawn for image `i` as one `[H, W, C]` array (C order) with
  `np.random.default_rng([seed, indices[i]]).integers(-k, k, endpoint=True)`.
  `m` is 1 everywhere (`mask='all'`) or the background mask
  `[x / 255 < 0.3]` (`mask='background'`). The sum is formed in int16 and
  clipped, so pixels near 0 or 255 move less than `k`.
  """

  def __init__(self, k=1, mask='all'):
    """Builds the transformation.

    Args:
      k: positive Python int, largest change in grey levels. Default value:
        `1`.
      mask: one of `MASKS`. Default value: `'all'`.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    self._k = base.check_int(k, 'k', minimum=1)
    if self._k > 255:
      raise ValueError(f'`k` must be at most 255 grey levels; got {self._k}.')
    self._mask = base.check_choice(mask, 'mask', MASKS)

  @property
  def k(self):
    return self._k

  @property
  def mask(self):
    return self._mask

  @property
  def name(self):
    return f'discrete_noise_k{self._k}_{self._mask}'

  @property
  def kind(self):
    return 'discrete'

  def config(self):
    return dict(type='DiscreteNoise', k=self._k, mask=self._mask)

  def draw(self, rng, shape):
    """The noise `n` (before the mask): int64 array `shape` in `[-k, k]`."""
    return rng.integers(-self._k, self._k, size=shape, endpoint=True)

  def _apply(self, images, seed, indices, model, batch_size):
    del model, batch_size  # No model.
    noise = _draws(self, seed, indices, images.shape, np.int16)
    noise *= _mask(images, self._mask)
    return np.clip(images.astype(np.int16) + noise, 0, 255).astype(np.uint8)
