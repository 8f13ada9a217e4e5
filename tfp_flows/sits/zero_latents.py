"""Zeroing a multi-scale Glow's finest latents: the paper's Algorithm 1."""

import hashlib

import numpy as np

from tfp_flows.models import discrete
from tfp_flows.models import glow as glow_lib
from tfp_flows.sits import base

__all__ = ['OUTPUTS', 'ZeroLatents']

OUTPUTS = ('continuous', 'quantised')

# The last decode, keyed by model, weights, images and k: the 'continuous'
# and 'quantised' variants of one k (both in the presets) decode the same
# images, and each decode costs two passes through the flow. One entry
# (float64 [N, H, W, C]: 63 MB for 10,000 28x28 images).
_last_decode = {}


def _decode_key(model, images, k):
  """Identifies a decode: the model object, its current weights, images, k."""
  weights = hashlib.sha1()
  for v in model.variables:
    weights.update(np.ascontiguousarray(v.numpy()).tobytes())
  return (id(model), weights.hexdigest(),
          hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest(),
          images.shape, k)


class ZeroLatents(base.SIT):
  """Sets the `k` finest latent factors of a multi-scale Glow to zero.

  For each image `x` (uint8, grey levels):

  1. Encode its bin centre `y = (x + 0.5) / 256`, without dequantisation
     noise, to the per-level latents `z_1 .. z_L` (finest first) in the
     standard-normal base space (`Glow.encode(..., dequantize=False)`).
  2. Set `z_1 .. z_k` to zero (the base distribution's mode) and keep
     `z_{k+1} .. z_L`.
  3. Decode to pixel units `d` (`Glow.decode`, nominally `[0, 256)`).

  Output:

  * `output='continuous'` (kind `'continuous'`): float32 `d / 256` on the
    `[0, 1]` scale, not clipped. With `k = 0` it is `to_continuous(x)` up
    to the flow's float round-off.
  * `output='quantised'` (kind `'discrete'`): uint8 `clip(floor(d), 0, 255)`.
    With `k = 0` it is `x` (the centre is half a bin from either edge).

  Needs the Glow the likelihoods are computed with (`needs_flow`); the
  transformation is deterministic, `seed` and `indices` are validated but
  unused.
  """

  def __init__(self, k=1, output='continuous'):
    """Builds the transformation.

    Args:
      k: non-negative Python int, number of finest levels to zero, less
        than the model's `num_levels` L (checked per call: the paper's
        Algorithm 1 keeps at least the coarsest level). `k = 0` is the
        identity up to the encode/decode round trip, a control. The paper
        zeroes k = 1 and k = 2, so a Glow needs L >= 3 for both. Default
        value: `1`.
      output: one of `OUTPUTS`. Default value: `'continuous'`.

    Raises:
      TypeError, ValueError: an argument is invalid; the message names it.
    """
    self._k = base.check_int(k, 'k', minimum=0)
    self._output = base.check_choice(output, 'output', OUTPUTS)

  @property
  def k(self):
    return self._k

  @property
  def output(self):
    return self._output

  @property
  def name(self):
    return f'zero_latents_k{self._k}_{self._output}'

  @property
  def kind(self):
    return 'continuous' if self._output == 'continuous' else 'discrete'

  @property
  def needs_flow(self):
    return True

  def applies_to(self, model):
    return (isinstance(model, glow_lib.Glow) and
            self._k < model.num_levels)

  def config(self):
    return dict(type='ZeroLatents', k=self._k, output=self._output)

  # -- Model handling --------------------------------------------------------

  def _check_model(self, model, images):
    """Raises unless `model` is a Glow that can encode `images` with `k`."""
    if model is None:
      raise TypeError('ZeroLatents needs a multi-scale Glow as `model`; got '
                      'None.')
    if not isinstance(model, glow_lib.Glow):
      raise TypeError('ZeroLatents needs a multi-scale Glow as `model`; got '
                      f'{type(model).__name__}.')
    if model.n_bits != 8:
      raise ValueError('ZeroLatents works on uint8 images (256 grey levels); '
                       f'`model` has n_bits={model.n_bits}.')
    if list(images.shape[1:]) != list(model.image_shape):
      shape = ', '.join(str(d) for d in model.image_shape)
      raise ValueError(f'`images` must have shape [N, {shape}] to '
                       f'match `model`; got {images.shape}.')
    if self._k >= model.num_levels:
      raise ValueError(
          f'`k` ({self._k}) must be less than the Glow\'s number of levels '
          f'L = {model.num_levels}: Algorithm 1 zeroes the first k of the L '
          'factors and keeps the rest (k = 2 needs a 3-level Glow, e.g. '
          'pad_to=32).')

  def _batches(self, images, model, batch_size, centre_latents=None):
    """Yields `(start, original, zeroed)` latents (numpy, finest first)."""
    for start in range(0, images.shape[0], batch_size):
      batch = images[start:start + batch_size]
      if centre_latents is None:
        original = [np.asarray(z) for z in
                    model.encode(batch, dequantize=False)]
      else:
        original = [z[start:start + batch_size] for z in centre_latents]
      zeroed = [np.zeros_like(z) if level < self._k else z
                for level, z in enumerate(original)]
      yield start, original, zeroed

  def latents(self, images, model, batch_size=256):
    """The latents before and after zeroing, for inspection and tests.

    Args:
      images: uint8 array `[N, H, W, C]`.
      model: the `Glow`.
      batch_size: positive Python int, images per model call. Default
        value: `256`.

    Returns:
      `(original, zeroed)`: two lists of `model.num_levels` float32 numpy
      arrays `[N] + model.latent_shapes[l]`, finest level first; in `zeroed`
      the first `k` are all zeros and the others are the originals.
    """
    images = base.check_images(images)
    batch_size = base.check_batch_size(batch_size)
    self._check_model(model, images)
    num = images.shape[0]
    original = [np.empty([num] + s, np.float32) for s in model.latent_shapes]
    zeroed = [np.empty([num] + s, np.float32) for s in model.latent_shapes]
    for start, before, after in self._batches(images, model, batch_size):
      for level in range(model.num_levels):
        stop = start + before[level].shape[0]
        original[level][start:stop] = before[level]
        zeroed[level][start:stop] = after[level]
    return original, zeroed

  def _check_centre_latents(self, centre_latents, model, num):
    if centre_latents is None:
      return None
    if model.pad_to is not None:
      raise ValueError('`centre_latents` cannot be used with a padded Glow '
                       '(`pad_to`): encode the images instead.')
    want = [[num] + s for s in model.latent_shapes]
    got = [list(np.shape(z)) for z in centre_latents]
    if got != want:
      raise ValueError(f'`centre_latents` must have shapes {want} (the '
                       f'latents of the images\' bin centres); got {got}.')
    return [np.asarray(z, np.float32) for z in centre_latents]

  def _decode(self, images, model, batch_size, centre_latents=None):
    """Decoded images with the first `k` levels zeroed, float64 pixel units.

    Reuses the previous call's result when model, weights, images and `k`
    are the same (a copy, so callers may modify it).
    """
    key = _decode_key(model, images, self._k)
    if key not in _last_decode:
      decoded = np.empty(images.shape, np.float64)
      for start, _, zeroed in self._batches(images, model, batch_size,
                                            centre_latents):
        pixels = np.asarray(model.decode(zeroed), np.float64)
        decoded[start:start + pixels.shape[0]] = pixels
      _last_decode.clear()
      _last_decode[key] = decoded
    return _last_decode[key].copy()

  def transform(self, images, *, seed=0, indices=None, model=None,
                batch_size=256, centre_latents=None):
    """`__call__` that reports, rather than raises on, images whose decoding
    overflowed (inf/NaN): those are replaced by the unchanged image's bin
    centre in the output and marked False in `valid`.

    Args:
      images, seed, indices, model, batch_size: as for `SIT.transform`.
      centre_latents: optional list of float arrays `[N] + latent_shapes[l]`:
        the latents of the images' bin centres `(x + 0.5) / 256`, already
        computed (e.g. by `Glow.log_density_and_latents` while scoring the
        clean images), so the encode pass is skipped. Unpadded Glows only.

    Returns:
      `(out, valid)` as `SIT.transform`.
    """
    images = base.check_images(images)
    base.check_seed(seed)
    base.check_indices(indices, images.shape[0])
    batch_size = base.check_batch_size(batch_size)
    self._check_model(model, images)
    centre_latents = self._check_centre_latents(centre_latents, model,
                                                images.shape[0])
    decoded = self._decode(images, model, batch_size, centre_latents)
    valid = np.isfinite(decoded).reshape(images.shape[0], -1).all(axis=1)
    decoded[~valid] = (images[~valid].astype(np.float64)
                       + discrete.BIN_CENTRE)
    if self._output == 'continuous':
      return (decoded / base.NUM_LEVELS).astype(np.float32), valid
    return np.clip(np.floor(decoded), 0, 255).astype(np.uint8), valid

  def _apply(self, images, seed, indices, model, batch_size):
    del seed, indices  # Deterministic.
    self._check_model(model, images)
    decoded = self._decode(images, model, batch_size)
    if self._output == 'continuous':
      return (decoded / base.NUM_LEVELS).astype(np.float32)
    if not np.all(np.isfinite(decoded)):
      # Casting NaN or inf to uint8 would silently produce garbage.
      raise ValueError(
          f'{self.name}: the decoded images have '
          f'{int(np.sum(~np.isfinite(decoded)))} non-finite values; they '
          'cannot be quantised (`transform` reports them instead).')
    return np.clip(np.floor(decoded), 0, 255).astype(np.uint8)
