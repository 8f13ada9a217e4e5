"""Translation by whole pixels: the paper's 1- and 2-pixel shifts."""

import numpy as np

from tfp_flows.sits import base

__all__ = ['FILLS', 'Translate']

FILLS = ('zeros', 'wrap', 'edge')


class Translate(base.SIT):
  """Shifts every image by `(dx, dy)` whole pixels; kind `'discrete'`.

  Output pixel `(r, c)` is input pixel `(r - dy, c - dx)`, so `dx < 0` moves
  the content left and `dy < 0` moves it up. Pixels that come from outside
  the image are filled according to `fill`:

  * `'zeros'`: grey level 0 (the paper; black, FashionMNIST's background).
  * `'wrap'`: from the opposite side (`np.roll`); no pixel is lost.
  * `'edge'`: the nearest border pixel is replicated.

  Deterministic: `seed` and `indices` are validated but unused.
  """

  def __init__(self, dx=-1, dy=0, fill='zeros'):
    """Builds the transformation.

    Args:
      dx: Python int, horizontal shift in pixels (negative = left). Its
        magnitude must be smaller than the image width (checked per call).
        Default value: `-1`.
      dy: Python int, vertical shift in pixels (negative = up). Its
        magnitude must be smaller than the image height. Default value: `0`.
      fill: one of `FILLS`. Default value: `'zeros'`.

    Raises:
      TypeError: `dx` or `dy` is not an integer.
      ValueError: `fill` is unknown.
    """
    self._dx = base.check_int(dx, 'dx')
    self._dy = base.check_int(dy, 'dy')
    self._fill = base.check_choice(fill, 'fill', FILLS)

  @property
  def dx(self):
    return self._dx

  @property
  def dy(self):
    return self._dy

  @property
  def fill(self):
    return self._fill

  @property
  def name(self):
    return f'translate_dx{self._dx}_dy{self._dy}_{self._fill}'

  @property
  def kind(self):
    return 'discrete'

  def config(self):
    return dict(type='Translate', dx=self._dx, dy=self._dy, fill=self._fill)

  def _apply(self, images, seed, indices, model, batch_size):
    del seed, indices, model, batch_size  # Deterministic, no model.
    _, height, width, _ = images.shape
    if abs(self._dx) >= width:
      raise ValueError(f'`dx` ({self._dx}) must be smaller in magnitude than '
                       f'the image width {width}.')
    if abs(self._dy) >= height:
      raise ValueError(f'`dy` ({self._dy}) must be smaller in magnitude than '
                       f'the image height {height}.')
    if self._fill == 'wrap':
      return np.roll(images, (self._dy, self._dx), axis=(1, 2))
    # Pad by the shift on both sides, then read the window that starts
    # `-shift` away from the original image: out[r] = padded[r + pad - shift].
    pad_y, pad_x = abs(self._dy), abs(self._dx)
    mode = 'constant' if self._fill == 'zeros' else 'edge'
    padded = np.pad(images, [(0, 0), (pad_y, pad_y), (pad_x, pad_x), (0, 0)],
                    mode=mode)
    top, left = pad_y - self._dy, pad_x - self._dx
    return np.ascontiguousarray(
        padded[:, top:top + height, left:left + width, :])
