"""Input complexity: likelihood corrected by a lossless compressor.

Serra et al. (ICLR 2020) observe that simple images (a constant grey, a
plain digit) get high likelihood under any density model, and correct for
it with the length L(x) of x under a generic lossless compressor:
S(x) = -log2 p(x) - L(x). Here both terms are per subpixel, in bits/dim
(D = H * W * C), so S is model bits/dim minus compressed bits/dim; higher
means more OoD, as everywhere in `tfp_flows.ood`.
"""

import zlib

import numpy as np
import tensorflow as tf

from tfp_flows.ood import metrics

__all__ = ['COMPRESSORS', 'compressed_bits_per_dim', 'input_complexity']


def _png_bytes(image):
  """Length in bytes of a PNG file of `image` (uint8 `[H, W, C]`)."""
  return len(tf.io.encode_png(image, compression=9).numpy())


def _zlib_bytes(image):
  """Length in bytes of the zlib stream of `image`'s raw bytes."""
  return len(zlib.compress(image.tobytes(), 9))


# Name -> function giving the compressed size in bytes of one `[H, W, C]`.
# Both lengths include the format's fixed overhead, as Serra et al.'s do:
# PNG's signature and IHDR/IDAT/IEND chunks (~57 bytes at 28x28x1, ~0.6
# bits/dim) and zlib's 2-byte header and 4-byte checksum (~0.06 bits/dim).
# The overhead is the same for every image of one shape, so it shifts all
# scores alike and leaves their order, and every detection metric, as is.
COMPRESSORS = {'png': _png_bytes, 'zlib': _zlib_bytes}

# Channel counts a PNG can hold: grey, grey+alpha, RGB, RGBA.
_PNG_CHANNELS = (1, 2, 3, 4)


def _check_images(images):
  """`images` as a numpy uint8 `[N, H, W, C]` array (N may be 0)."""
  if isinstance(images, tf.Tensor):
    images = images.numpy()
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise TypeError('`images` must be uint8 [N, H, W, C] (values 0..255, '
                    f'not rescaled); got dtype {images.dtype}.')
  if images.ndim != 4:
    raise ValueError('`images` must have rank 4, [N, H, W, C]; got shape '
                     f'{images.shape}.')
  if 0 in images.shape[1:]:
    raise ValueError('`images` must have H, W, C >= 1 (D = H * W * C is the '
                     f'denominator of bits/dim); got shape {images.shape}.')
  return images


def _check_compressor(compressor):
  if compressor not in COMPRESSORS:
    raise ValueError(f'Unknown compressor {compressor!r}; known: '
                     f'{", ".join(sorted(COMPRESSORS))}.')
  return COMPRESSORS[compressor]


def compressed_bits_per_dim(images, compressor):
  """L(x) / D: compressed length of each image in bits per subpixel.

  'png': `tf.io.encode_png(image, compression=9)`, the whole PNG file.
  'zlib': `zlib.compress(image.tobytes(), 9)`, the raw bytes in row-major
  order (H, W, C) with no image-specific filter. Uncompressible data costs
  a little more than 8 bits/dim (the container's overhead); see
  `COMPRESSORS`.

  Args:
    images: uint8 `[N, H, W, C]` numpy array or eager tensor.
    compressor: `'png'` or `'zlib'`.

  Returns:
    float64 `[N]`, bits per subpixel (D = H * W * C).

  Raises:
    ValueError: unknown `compressor` (the message lists the known ones);
      `images` not of rank 4 or with H, W or C = 0; for 'png', C not in
      1..4.
    TypeError: `images` not uint8.
  """
  length_bytes = _check_compressor(compressor)
  images = _check_images(images)
  if compressor == 'png' and images.shape[-1] not in _PNG_CHANNELS:
    raise ValueError('PNG holds 1, 2, 3 or 4 channels; `images` has '
                     f'{images.shape[-1]} (shape {images.shape}).')
  num_subpixels = int(np.prod(images.shape[1:]))
  lengths = np.array([length_bytes(image) for image in images],
                     dtype=np.float64)
  return 8. * lengths / num_subpixels


def input_complexity(model_bits_per_dim, images, compressor='png'):
  """Serra et al.'s score S(x) = -log2 p(x) - L(x), per subpixel.

  Args:
    model_bits_per_dim: the model's bits/dim of each image (e.g.
      `model.bits_per_dim(images)`), 1-D `[N]`, any real dtype.
    images: the same images, uint8 `[N, H, W, C]`, in the same order.
    compressor: `'png'` (default, as in the paper) or `'zlib'`.

  Returns:
    float64 `[N]` in bits/dim: model bits/dim minus compressed bits/dim.
    Higher = more OoD (the model finds x less likely than its complexity
    explains).

  Raises:
    ValueError: `model_bits_per_dim` not 1-D, empty, containing NaN, or
      not one value per image; the errors of `compressed_bits_per_dim`.
    TypeError: `images` not uint8.
  """
  _check_compressor(compressor)
  if isinstance(model_bits_per_dim, tf.Tensor):
    model_bits_per_dim = model_bits_per_dim.numpy()
  model_bpd = metrics.as_scores(model_bits_per_dim, 'model_bits_per_dim')
  images = _check_images(images)
  if model_bpd.shape[0] != images.shape[0]:
    raise ValueError('`model_bits_per_dim` must hold one value per image, '
                     f'shape [{images.shape[0]}]; got shape '
                     f'{model_bpd.shape}.')
  return model_bpd - compressed_bits_per_dim(images, compressor)
