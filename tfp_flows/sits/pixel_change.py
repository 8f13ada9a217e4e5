"""How far a SIT moved each image, in grey levels and PSNR."""

import numpy as np

from tfp_flows.sits import base

__all__ = ['PSNR_PEAK', 'pixel_change']

# Peak signal of PSNR: the largest grey level of a uint8 image.
PSNR_PEAK = 255.


def pixel_change(before, after, *, offset=base.CONTINUOUS_OFFSET):
  """Per-image size of the change from `before` to `after`.

  ```none
  d        = after_grey - before                      (grey levels)
  mean_abs = mean |d|                                 over H, W, C
  psnr     = 10 log10(255**2 / mean d**2)             dB; inf when d = 0
  ```

  Args:
    before: uint8 array `[N, H, W, C]`, the original images.
    after: array `[N, H, W, C]`, the transformed images: uint8 (grey levels)
      or float (continuous `[0, 1]` scale, converted to grey levels with
      `y * 256 - offset`, the inverse of `to_continuous`; not rounded).
    offset: Python float in `[0, 1)`, the offset of a continuous `after`.
      Default value: `0.5`.

  Returns:
    `dict(mean_abs=float64 [N] grey levels, psnr=float64 [N] dB)`.

  Raises:
    TypeError: `before` is not uint8, or `after` neither uint8 nor float.
    ValueError: shapes are not `[N, H, W, C]` or do not match.
  """
  before = base.check_images(before, name='before')
  offset = base.check_offset(offset)
  after = np.asarray(after)
  if after.shape != before.shape:
    raise ValueError(f'`after` must have the shape of `before` '
                     f'{before.shape}; got {after.shape}.')
  if after.dtype == np.uint8:
    after_grey = after.astype(np.float64)
  elif np.issubdtype(after.dtype, np.floating):
    after_grey = base.from_continuous(after, offset)
  else:
    raise TypeError('`after` must be uint8 (grey levels) or float (continuous '
                    f'[0, 1] scale); got dtype {after.dtype}.')
  diff = after_grey - before.astype(np.float64)
  axes = (1, 2, 3)
  mean_abs = np.mean(np.abs(diff), axis=axes)
  mse = np.mean(np.square(diff), axis=axes)
  with np.errstate(divide='ignore'):
    psnr = np.where(mse > 0, 10. * np.log10(PSNR_PEAK ** 2 / mse), np.inf)
  return dict(mean_abs=mean_abs, psnr=psnr.astype(np.float64))
