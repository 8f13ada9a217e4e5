"""Synthetic out-of-distribution image sets.

All functions return uint8 images ``[N, 28, 28, 1]`` and int64 labels
``[N]``. Random sets are a pure function of ``(seed, set, split)``: the
generator is seeded with all three, so the train and test splits of one seed
differ and nothing depends on global random state.
"""

import numbers

import numpy as np

from tfp_flows.data.catalog import IMAGE_SHAPE, SPLITS

__all__ = [
    "NO_LABEL",
    "check_seed",
    "constant_images",
    "uniform_noise_images",
    "invert_images",
    "vflip_images",
]

# Label given to examples of sets that have no classes.
NO_LABEL = -1

# Fixed stream ids keep each set's random stream stable if sets are added.
_STREAM_IDS = {"constant": 0, "uniform_noise": 1}


def check_seed(seed):
  """Returns ``seed`` as an int if it is a non-negative integer.

    Raises:
      TypeError: if ``seed`` is not an integer (bools are rejected too).
      ValueError: if ``seed`` is negative.
    """
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
    raise TypeError(
        f"seed must be a non-negative int, got {type(seed).__name__}: "
        f"{seed!r}")
  if seed < 0:
    raise ValueError(f"seed must be a non-negative int, got {seed}")
  return int(seed)


def _rng(set_name, split, seed):
  return np.random.default_rng(
      [check_seed(seed), _STREAM_IDS[set_name],
       SPLITS.index(split)])


def _no_labels(num_examples):
  return np.full((num_examples,), NO_LABEL, dtype=np.int64)


def constant_images(num_examples, split, seed):
  """Images that are each one random grey level (0..255) everywhere.

    Args:
      num_examples: number of images N.
      split: ``'train'`` or ``'test'`` (selects an independent stream).
      seed: non-negative int.

    Returns:
      ``(images, labels)``: uint8 ``[N, 28, 28, 1]`` and int64 ``[N]`` of -1.
    """
  levels = _rng("constant", split, seed).integers(
      0, 256, size=(num_examples, 1, 1, 1), dtype=np.uint8)
  images = np.broadcast_to(levels, (num_examples,) + IMAGE_SHAPE).copy()
  return images, _no_labels(num_examples)


def uniform_noise_images(num_examples, split, seed):
  """Images whose pixels are iid uniform on 0..255.

    Args:
      num_examples: number of images N.
      split: ``'train'`` or ``'test'`` (selects an independent stream).
      seed: non-negative int.

    Returns:
      ``(images, labels)``: uint8 ``[N, 28, 28, 1]`` and int64 ``[N]`` of -1.
    """
  images = _rng("uniform_noise", split, seed).integers(
      0, 256, size=(num_examples,) + IMAGE_SHAPE, dtype=np.uint8)
  return images, _no_labels(num_examples)


def invert_images(images):
  """Returns ``255 - images`` for uint8 images ``[N, H, W, C]``."""
  return np.subtract(np.uint8(255), images, dtype=np.uint8)


def vflip_images(images):
  """Returns images ``[N, H, W, C]`` flipped upside down (rows reversed)."""
  return np.ascontiguousarray(images[:, ::-1, :, :])
