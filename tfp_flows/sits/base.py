"""The semantic-invariant transformation (SIT) interface and shared helpers.

A SIT maps a batch of uint8 images `[N, H, W, C]` to images that show the same
thing (Wang & Yiu 2019), so that a change in a flow's likelihood cannot be
explained by a change of content.

Two kinds of output exist:

* `'discrete'`: uint8 images `[N, H, W, C]` in grey levels 0..255, to be
  evaluated with the model's discrete `log_prob`.
* `'continuous'`: float32 images `[N, H, W, C]` on the `[0, 1]` scale, to be
  evaluated with the model's continuous `log_density`.

#### Continuous scale convention

A uint8 image `x` corresponds to the continuous point

```none
y = (x + offset) / 256,   offset = CONTINUOUS_OFFSET = 0.5   (bin centre)
```

Why the bin centre: the dequantisation bin of grey level `x` is
`[x / 256, (x + 1) / 256)`, so a perturbation of up to half a grey level
(`0.5 / 256` on the `[0, 1]` scale) stays inside the pixel's own bin;
re-quantising with `floor(y * 256)` is robust to float round-off (the point
sits half a bin away from both edges); and a quantised density (e.g.
PixelCNN's discretised logistic) maps the point back to `x` exactly. The
inverse is `from_continuous`: `x = y * 256 - offset`. Both are exact in
float32 for uint8 `x` and the default offset.

#### Randomness

Every random draw is reproducible and independent of batching or subsetting:
image `i` of a call draws from `np.random.default_rng([seed, indices[i]])`
(`rng_for`), where `indices` defaults to `np.arange(N)`. Passing the images'
positions in the full data set as `indices` therefore gives every image the
same noise whichever subset or batch it is processed in.

#### Errors

Constructors validate their arguments at once. A wrong type raises
`TypeError` and a wrong value `ValueError`; the message names the argument,
e.g. "`dx` must be an integer; got 1.5.".
"""

import abc
import math
import numbers

import numpy as np

__all__ = [
    'BACKGROUND_THRESHOLD', 'CONTINUOUS_OFFSET', 'KINDS', 'NUM_LEVELS',
    'PLACEMENTS', 'SIT',
    'background_mask', 'check_batch_size', 'check_choice', 'check_images',
    'check_indices', 'check_int', 'check_offset', 'check_seed', 'format_float',
    'is_int', 'is_real',
    'from_continuous', 'rng_for', 'to_continuous',
]

# Grey levels of a uint8 subpixel: the continuous scale divides by this.
NUM_LEVELS = 256

# Where inside its bin a grey level sits on the continuous scale (bin centre).
CONTINUOUS_OFFSET = 0.5

# Named positions of a clean grey level inside its bin `[x, x + 1) / 256`, for
# SITs that add continuous noise. 'edge' is the paper's convention: its images
# are x / 256 and training adds U[0, 1/256), so the clean point is the bin's
# lower edge and any negative noise leaves the region seen in training.
# 'centre' puts it half a bin from both edges, where noise under half a grey
# level stays inside the bin.
PLACEMENTS = {'edge': 0.0, 'centre': CONTINUOUS_OFFSET}

# A pixel is background when its intensity x / 255 is below this (the paper's
# background mask for FashionMNIST, whose objects are bright on black).
BACKGROUND_THRESHOLD = 0.3

KINDS = ('discrete', 'continuous')


# ---------------------------------------------------------------- validation


def is_int(value):
  """Whether `value` is a Python or numpy integer (bools are not)."""
  return isinstance(value, numbers.Integral) and not isinstance(
      value, (bool, np.bool_))


def is_real(value):
  """Whether `value` is a Python or numpy real number (bools are not)."""
  return isinstance(value, numbers.Real) and not isinstance(
      value, (bool, np.bool_))


def check_int(value, name, minimum=None):
  """Returns `value` as a Python int; raises naming `name` otherwise.

  Args:
    value: the argument.
    name: its name, for the message.
    minimum: optional smallest allowed value.

  Returns:
    Python `int`.

  Raises:
    TypeError: `value` is not an integer.
    ValueError: `value < minimum`.
  """
  if not is_int(value):
    raise TypeError(f'`{name}` must be an integer; got {value!r}.')
  value = int(value)
  if minimum is not None and value < minimum:
    raise ValueError(f'`{name}` must be an integer >= {minimum}; got {value}.')
  return value


def check_choice(value, name, choices):
  """Raises `ValueError` naming `name` unless `value` is one of `choices`."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(f'`{name}` must be one of {tuple(choices)}; got '
                     f'{value!r}.')
  return value


def check_offset(offset, name='offset'):
  """Returns the continuous-scale offset as a float in `[0, 1)`."""
  if not is_real(offset):
    raise TypeError(f'`{name}` must be a real number; got {offset!r}.')
  offset = float(offset)
  if not 0. <= offset < 1.:
    raise ValueError(f'`{name}` must be in [0, 1) (a position inside a grey '
                     f'level\'s bin); got {offset!r}.')
  return offset


def check_seed(seed, name='seed'):
  """Returns `seed` as a non-negative Python int; raises naming `name`."""
  return check_int(seed, name, minimum=0)


def check_batch_size(batch_size, name='batch_size'):
  """Returns `batch_size` as a positive Python int; raises naming `name`."""
  return check_int(batch_size, name, minimum=1)


def check_images(images, name='images'):
  """Validates a batch of uint8 images.

  Args:
    images: array-like (numpy array, or anything `np.asarray` reads, e.g. an
      eager `Tensor`) of dtype uint8 and shape `[N, H, W, C]`.
    name: how the argument is called in error messages.

  Returns:
    The images as a numpy uint8 array `[N, H, W, C]` (not copied; may be
    read-only, and is never written to).

  Raises:
    TypeError: not array-like, or the dtype is not uint8.
    ValueError: the rank is not 4 or a dimension of H, W, C is zero.
  """
  try:
    array = np.asarray(images)
  except Exception as e:  # pylint: disable=broad-except
    raise TypeError(f'`{name}` must be a uint8 array [N, H, W, C]; got '
                    f'{type(images).__name__} ({e}).') from e
  if array.dtype != np.uint8:
    raise TypeError(f'`{name}` must have dtype uint8 (grey levels 0..255); got '
                    f'dtype {array.dtype}.')
  if array.ndim != 4:
    raise ValueError(f'`{name}` must have shape [N, H, W, C] (rank 4); got '
                     f'shape {array.shape}.')
  if min(array.shape[1:]) == 0:
    raise ValueError(f'`{name}` must have non-empty images [H, W, C]; got '
                     f'shape {array.shape}.')
  return array


def check_indices(indices, num_images, name='indices'):
  """Returns the per-image random-stream indices as an int64 array `[N]`.

  Args:
    indices: `None` (meaning `np.arange(num_images)`) or a 1-D array-like of
      `num_images` non-negative integers.
    num_images: N.
    name: how the argument is called in error messages.

  Returns:
    int64 numpy array `[N]`.

  Raises:
    TypeError: not integer-valued.
    ValueError: wrong shape or negative values.
  """
  if indices is None:
    return np.arange(num_images, dtype=np.int64)
  array = np.asarray(indices)
  if array.ndim != 1 or array.shape[0] != num_images:
    raise ValueError(f'`{name}` must have shape [N] = [{num_images}] (one per '
                     f'image); got shape {array.shape}.')
  if array.size == 0:
    return np.zeros([0], np.int64)
  if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
    raise TypeError(f'`{name}` must hold integers; got dtype {array.dtype}.')
  if array.min() < 0:
    raise ValueError(f'`{name}` must be non-negative; got min {array.min()}.')
  return array.astype(np.int64)


# ------------------------------------------------------------ shared helpers


def to_continuous(images, offset=CONTINUOUS_OFFSET):
  """The continuous point of uint8 images: `(x + offset) / 256`.

  Args:
    images: uint8 array-like, any shape, grey levels 0..255.
    offset: Python float in `[0, 1)`, position inside the grey level's bin.
      Default value: `CONTINUOUS_OFFSET` (0.5, the bin centre).

  Returns:
    float32 numpy array of the same shape, values in `(0, 1)` for the
    default offset (`[0, 1)` in general).
  """
  offset = check_offset(offset)
  array = np.asarray(images)
  if array.dtype != np.uint8:
    raise TypeError('`images` must have dtype uint8 (grey levels 0..255); got '
                    f'dtype {array.dtype}.')
  return ((array.astype(np.float64) + offset) / NUM_LEVELS).astype(np.float32)


def from_continuous(y, offset=CONTINUOUS_OFFSET):
  """Inverse of `to_continuous`: grey levels `y * 256 - offset` (not rounded).

  Args:
    y: float array-like, any shape, on the `[0, 1]` scale.
    offset: Python float in `[0, 1)`, as passed to `to_continuous`. Default
      value: `CONTINUOUS_OFFSET`.

  Returns:
    float64 numpy array of the same shape, in grey levels.
  """
  offset = check_offset(offset)
  return np.asarray(y, np.float64) * NUM_LEVELS - offset


def background_mask(images):
  """The paper's background mask: `x / 255 < BACKGROUND_THRESHOLD`.

  Args:
    images: uint8 array, any shape.

  Returns:
    bool numpy array of the same shape; True on background subpixels (for
    uint8, grey levels 0..76).
  """
  return np.asarray(images, np.float64) / 255. < BACKGROUND_THRESHOLD


def rng_for(seed, index):
  """The random generator of one image: `np.random.default_rng([seed, index])`.

  Args:
    seed: non-negative Python int, the call's seed.
    index: non-negative int, the image's index (see module docstring).

  Returns:
    A `np.random.Generator`.
  """
  return np.random.default_rng([int(seed), int(index)])


def format_float(value):
  """Shortest round-trip text of a float, for unique, filename-safe names.

  `repr` is unique per float; a positive exponent loses its '+' ('1e16'),
  which `Compose` names reserve as their separator.
  """
  if not math.isfinite(float(value)):
    raise ValueError(f'Cannot name a non-finite value {value!r}.')
  return repr(float(value)).replace('e+', 'e')


# ------------------------------------------------------------------- the ABC


class SIT(abc.ABC):
  """A semantic-invariant transformation of uint8 images.

  Subclasses implement `name`, `kind`, `config` and `_apply`; `__call__`
  validates the common arguments and the output.

  #### Examples

  ```python
  sit = Translate(dx=-1)
  moved = sit(images, seed=0)                 # uint8 [N, H, W, C]
  if sit.kind == 'discrete':
    scores = model.log_prob(moved)
  else:
    scores = model.log_density(moved)        # float32 on the [0, 1] scale
  ```
  """

  @property
  @abc.abstractmethod
  def name(self):
    """Unique, filename-safe Python `str`, a function of the parameters."""

  @property
  @abc.abstractmethod
  def kind(self):
    """`'discrete'` (uint8) or `'continuous'` (float32, `[0, 1]` scale)."""

  @property
  def needs_flow(self):
    """Whether `__call__` needs a multi-scale Glow `model`."""
    return False

  @property
  def offset(self):
    """Where a continuous SIT's output puts a clean grey level inside its
    bin (`y = (x + offset) / 256` before any change): `CONTINUOUS_OFFSET`
    unless the SIT places it elsewhere (continuous noise at the bin edge).
    """
    return CONTINUOUS_OFFSET

  def applies_to(self, model):
    """Whether this SIT can transform images for `model`.

    Model-independent SITs apply to every model; a SIT that needs a flow
    (and particular flow settings, e.g. ZeroLatents' `k < num_levels`) says
    so here, so that a default SIT list can skip it for other models.
    """
    del model
    return True

  @abc.abstractmethod
  def config(self):
    """JSON-serialisable `dict` of the parameters, with `'type'`."""

  @abc.abstractmethod
  def _apply(self, images, seed, indices, model, batch_size):
    """Transforms validated arguments; see `__call__`."""

  def __call__(self, images, *, seed=0, indices=None, model=None,
               batch_size=256):
    """Transforms a batch of images.

    Args:
      images: uint8 array `[N, H, W, C]`, grey levels 0..255. Never modified.
      seed: non-negative Python int; with `indices` it fixes every random
        draw (see the module docstring). Default value: `0`.
      indices: `None` or int array `[N]` of non-negative stream indices, e.g.
        the images' positions in their data set. Default value: `None`
        (`np.arange(N)`).
      model: the density model, used only when `needs_flow`; ignored
        otherwise. Default value: `None`.
      batch_size: positive Python int, images per model call (only SITs that
        run a model batch). Default value: `256`.

    Returns:
      numpy array `[N, H, W, C]`: uint8 if `kind == 'discrete'`, float32 on
      the `[0, 1]` scale if `kind == 'continuous'`.
    """
    images = check_images(images)
    seed = check_seed(seed)
    indices = check_indices(indices, images.shape[0])
    batch_size = check_batch_size(batch_size)
    out = self._apply(images, seed, indices, model, batch_size)
    expected = np.uint8 if self.kind == 'discrete' else np.float32
    # A broken subclass should fail here, not in the evaluator.
    if out.dtype != expected or out.shape != images.shape:
      raise AssertionError(
          f'{type(self).__name__} returned {out.dtype} {out.shape}; expected '
          f'{np.dtype(expected)} {images.shape}.')
    return out

  def transform(self, images, *, seed=0, indices=None, model=None,
                batch_size=256):
    """`__call__` plus which images the SIT could transform.

    A transformation can fail for some images (a flow's decoder can
    overflow on edited latents). The evaluator scores every image but must
    not report failed ones as results.

    Returns:
      `(out, valid)`: `out` as from `__call__` (failed images replaced by a
      finite placeholder), and a bool array `[N]`, False where it failed.
    """
    out = self(images, seed=seed, indices=indices, model=model,
               batch_size=batch_size)
    if out.dtype == np.uint8:
      return out, np.ones(out.shape[0], bool)
    valid = np.isfinite(out).reshape(out.shape[0], -1).all(axis=1)
    if not valid.all():
      out = out.copy()
      out[~valid] = to_continuous(np.asarray(images)[~valid])
    return out, valid

  def __repr__(self):
    params = ', '.join(f'{k}={v!r}' for k, v in self.config().items()
                       if k != 'type')
    return f'{type(self).__name__}({params})'
