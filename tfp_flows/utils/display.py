"""How images and durations are shown: TensorBoard image grids, ETAs."""

import math

import numpy as np

__all__ = ['format_eta', 'image_grid']


def image_grid(images, num_cols=None, pad=1):
  """Tiles `[N, H, W, C]` uint8 images into one `[1, H', W', C]` grid image.

  Args:
    images: uint8 array `[N, H, W, C]`.
    num_cols: columns (default: ceil(sqrt(N))).
    pad: pixels of grey (128) between tiles.

  Returns:
    uint8 array `[1, rows*(H+pad)+pad, cols*(W+pad)+pad, C]` for
    `tf.summary.image`.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f'`images` must be [N, H, W, C]; got {images.shape}.')
  n, h, w, c = images.shape
  cols = num_cols or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 128,
                 np.uint8)
  for i in range(n):
    r, k = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + k * (w + pad)
    grid[top:top + h, left:left + w] = images[i]
  return grid[None]


def format_eta(seconds):
  """'1h02m', '3m05s' or '12s'."""
  if not np.isfinite(seconds) or seconds < 0:
    return '?'
  seconds = int(round(seconds))
  hours, rem = divmod(seconds, 3600)
  minutes, secs = divmod(rem, 60)
  if hours:
    return f'{hours}h{minutes:02d}m'
  if minutes:
    return f'{minutes}m{secs:02d}s'
  return f'{secs}s'
