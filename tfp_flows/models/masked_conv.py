"""Masked convolutions computed on their unmasked part only.

`tfd.PixelCNN` makes its network causal with masked kernels: a 3x3 kernel
of which only the top two rows (6 of 9 taps, the vertical stack) or a 2x2
corner (4 of 9, the horizontal stack) may be non-zero, and 4x4 stride-2
kernels with 6 or 4 of 16 taps. TF convolves the full kernels, multiplying
the masked taps by zero. Convolving the input, padded as 'SAME' would pad
it, with the kernel cropped to the bounding box of its mask computes the
same sums with a third to three quarters fewer multiplications.
"""

import contextlib
import threading
import warnings

import numpy as np
import tensorflow as tf
import tf_keras

# The namespace TFP's PixelCNN reads `Convolution2D` from is private; it is
# checked on import there (ImportError naming it if a TFP upgrade moves it).
from tfp_flows.bijectors import _tfp_private

__all__ = ['BoxConv2D', 'box_convolutions', 'mask_box', 'same_conv_on_box']

# Held while tf_keras' Convolution2D is swapped: two threads building
# PixelCNNs at once would otherwise restore each other's swap and leave
# BoxConv2D installed for good. Re-entrant, so nesting in one thread works.
_SWAP_LOCK = threading.RLock()


def mask_box(mask):
  """The bounding box of a mask's non-zero taps, if it fills it exactly.

  Args:
    mask: array `[kh, kw]` of 0/1.

  Returns:
    `((row_start, row_stop), (col_start, col_stop))`, or None if the mask is
    empty, has taps other than 0 and 1, or is not a full rectangle.
  """
  mask = np.asarray(mask)
  if not np.isin(mask, (0., 1.)).all() or not mask.any():
    return None
  rows = np.flatnonzero(mask.any(axis=1))
  cols = np.flatnonzero(mask.any(axis=0))
  box = ((int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1))
  if not mask[box[0][0]:box[0][1], box[1][0]:box[1][1]].all():
    return None
  return box


def _same_padding(size, kernel, stride):
  """(output size, padding before the input) of a 'SAME' convolution."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, total // 2


def same_conv_on_box(inputs, kernel, box, strides=(1, 1)):
  """`tf.nn.conv2d(inputs, kernel, strides, 'SAME')` using only `box` taps.

  Equal to the full convolution when `kernel` is zero outside `box` (up to
  float rounding: fewer terms are summed).

  Args:
    inputs: `[N, H, W, C_in]` with static H and W.
    kernel: `[kh, kw, C_in, C_out]`.
    box: `((row_start, row_stop), (col_start, col_stop))` within the kernel.
    strides: `(sh, sw)`.

  Returns:
    `[N, ceil(H / sh), ceil(W / sw), C_out]`.
  """
  (r0, r1), (c0, c1) = box
  kh, kw = kernel.shape[0], kernel.shape[1]
  sh, sw = strides
  height, width = inputs.shape[1], inputs.shape[2]
  out_h, top = _same_padding(height, kh, sh)
  out_w, left = _same_padding(width, kw, sw)
  span_h = sh * (out_h - 1) + (r1 - r0)
  span_w = sw * (out_w - 1) + (c1 - c0)
  # The box reads input rows [start_h, start_h + span_h) (zeros outside).
  start_h, start_w = r0 - top, c0 - left
  # Crop input rows/columns the box never reaches (slices), then let the
  # conv zero-pad the rest itself (explicit padding: no padded copy).
  crop_h = (max(start_h, 0), min(start_h + span_h, height))
  crop_w = (max(start_w, 0), min(start_w + span_w, width))
  if crop_h != (0, height) or crop_w != (0, width):
    inputs = inputs[:, crop_h[0]:crop_h[1], crop_w[0]:crop_w[1], :]
  padding = [[0, 0],
             [crop_h[0] - start_h, start_h + span_h - crop_h[1]],
             [crop_w[0] - start_w, start_w + span_w - crop_w[1]],
             [0, 0]]
  return tf.nn.conv2d(inputs, kernel[r0:r1, c0:c1], [1, sh, sw, 1], padding)


class BoxConv2D(tf_keras.layers.Conv2D):
  """A tf_keras `Conv2D` that convolves only its mask's box.

  When built with a `kernel_constraint` that multiplies by a 0/1 mask filling
  a rectangle (as `tfd.PixelCNN` builds its causal kernels), 'same' padding,
  no dilation and channels-last data, `convolution_op` uses
  `same_conv_on_box`; any other layer behaves exactly as `Conv2D`. The
  kernel variable keeps its full shape (checkpoints are unchanged); its
  masked taps are never read, so this equals `Conv2D` only while they are
  zero, which the constraint (and `PixelCNN.apply_kernel_masks`) ensures.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.mask_box = None
    if (self.kernel_constraint is not None and self.padding == 'same' and
        tuple(self.dilation_rate) == (1, 1) and self.groups == 1 and
        self.data_format == 'channels_last'):
      mask = np.asarray(self.kernel_constraint(
          tf.ones(list(self.kernel_size) + [1, 1])))[:, :, 0, 0]
      box = mask_box(mask)
      if box != ((0, self.kernel_size[0]), (0, self.kernel_size[1])):
        self.mask_box = box

  def convolution_op(self, inputs, kernel):
    if (self.mask_box is None or inputs.shape.rank != 4 or
        inputs.shape[1] is None or inputs.shape[2] is None):
      return super().convolution_op(inputs, kernel)
    return same_conv_on_box(inputs, kernel, self.mask_box, self.strides)


@contextlib.contextmanager
def box_convolutions():
  """Within this context, `tfd.PixelCNN` networks are built with `BoxConv2D`.

  TFP creates its convolutions from `tf_keras.layers.Convolution2D` when the
  network is built (at its first call), so the name is swapped for
  `BoxConv2D` for the duration and restored after, also on error. The swap
  is process-wide: other threads wait for it (a lock), and a `Conv2D` built
  by other code meanwhile would be a `BoxConv2D` without a mask, which is a
  plain `Conv2D`.
  """
  layers = _tfp_private.PIXEL_CNN_KERAS_LAYERS
  with _SWAP_LOCK:
    original = layers.Convolution2D
    layers.Convolution2D = BoxConv2D
    try:
      with warnings.catch_warnings():
        # TFP's WeightNorm warns for any class not named Conv2D; BoxConv2D is
        # one (its filter axis, the one WeightNorm normalises over, is too).
        warnings.filterwarnings('ignore', message='`WeightNorm` is tested only')
        yield
    finally:
      layers.Convolution2D = original
