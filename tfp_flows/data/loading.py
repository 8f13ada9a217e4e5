"""Loads data sets as numpy arrays from the verified local cache.

Real data sets are read from the cache filled by ``bin/fetch_data``; nothing
is fetched here: a missing file is a ``FileNotFoundError`` naming the file
and the command to run. Each file's SHA-256 is checked on first load in a
process and the decoded arrays are memoized, keyed by the files' (path,
size, mtime), so repeated loads cost a ``stat`` and a refetch is picked up.

All returned arrays are **read-only** (shared by the memo, or marked so for
consistency for synthetic sets); use ``.copy()`` to get a writable array.
"""

import hashlib
import os
import threading

import numpy as np

from tfp_flows.data import cache
from tfp_flows.data import catalog
from tfp_flows.data import sources
from tfp_flows.data import synthetic
from tfp_flows.data.errors import CorruptDataError, IdxFormatError
from tfp_flows.data.idx import parse_idx
from tfp_flows.utils.validation import positive_int

__all__ = ["load"]

# (cache directory, split) -> (file keys, images, labels).
_memo = {}
_memo_lock = threading.Lock()


def _file_key(path):
  """Returns ``(resolved path, size, mtime_ns)`` identifying a file version.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
    """
  real = os.path.realpath(path)
  st = os.stat(real)
  return (real, st.st_size, st.st_mtime_ns)


def _read_checked(path, idx_file, manifest, root):
  """Reads one cached IDX file and checks its digest and header.

    Returns:
      ``(array, canonical)``: the read-only uint8 array and whether the file
      matched the recorded canonical digest (rather than a manifest entry).
    """
  try:
    data = path.read_bytes()
  except FileNotFoundError:
    # Deleted between the stat and the read: same advice as missing.
    raise FileNotFoundError(
        f"data file not found: {path}; {cache.fetch_hint(root)}") from None
  digest = hashlib.sha256(data).hexdigest()
  if digest not in cache.accepted_sha256(idx_file, manifest):
    raise CorruptDataError(
        f"{path} is corrupt: SHA-256 {digest}, expected {idx_file.sha256}; "
        f"{cache.fetch_hint(root, force=True)}")
  try:
    array = parse_idx(data, str(path))
  except IdxFormatError as e:
    raise CorruptDataError(
        f"{e}; {cache.fetch_hint(root, force=True)}") from None
  return array, digest == idx_file.sha256


def _load_real(name, split, root):
  """Returns memoized read-only uint8 images and int64 labels.

    Shapes: images ``[N, 28, 28, 1]``, labels ``[N]``.
    """
  spec = sources.SPLIT_FILES[name][split]
  directory = cache.dataset_dir(root, name)
  paths = (directory / spec.images.name, directory / spec.labels.name)
  try:
    keys = tuple(_file_key(p) for p in paths)
  except FileNotFoundError:
    missing = next(p for p in paths if not p.is_file())
    raise FileNotFoundError(
        f"{name} {split} data file not found: {missing}; the data has not "
        f"been fetched: {cache.fetch_hint(root)}") from None
  memo_key = (str(directory), split)
  with _memo_lock:
    entry = _memo.get(memo_key)
  if entry is not None and entry[0] == keys:
    return entry[1], entry[2]

  manifest = cache.read_manifest(directory)
  images, images_canonical = _read_checked(paths[0], spec.images, manifest,
                                           root)
  labels, labels_canonical = _read_checked(paths[1], spec.labels, manifest,
                                           root)
  n = catalog.SPLIT_SIZES[split]
  fix = cache.fetch_hint(root, force=True)
  if images.shape != (n,) + catalog.IMAGE_SHAPE[:2] or labels.shape != (n,):
    raise CorruptDataError(
        f"{directory}: {split} images have shape {images.shape} and labels "
        f"{labels.shape}, expected [{n}, 28, 28] and [{n}]; {fix}")
  if labels.max() >= catalog.NUM_CLASSES:
    raise CorruptDataError(
        f"{paths[1]}: labels must be in 0..{catalog.NUM_CLASSES - 1}, "
        f"found {labels.max()}; {fix}")
  if not (images_canonical and labels_canonical):
    # Files accepted through the manifest (reordered tensorflow_datasets
    # copies) are checked as a pair, which also catches a mix of files
    # from two different fetches.
    try:
      sources.check_content_digest(
          spec, images, labels,
          f"{paths[0]} and {paths[1]} do not form the {name} {split} split: "
          "the pair")
    except CorruptDataError as e:
      raise CorruptDataError(f"{e}; {fix}") from None
  images = images.reshape((n,) + catalog.IMAGE_SHAPE)
  labels = labels.astype(np.int64)
  labels.flags.writeable = False
  with _memo_lock:
    _memo[memo_key] = (keys, images, labels)
  return images, labels


def _check_num_examples(num_examples, available):
  """Returns ``num_examples`` (None means all ``available``), checked."""
  if num_examples is None:
    return available
  n = positive_int(num_examples, "num_examples")
  if n > available:
    raise ValueError(
        f"`num_examples` must be at most {available} for this split; got {n}.")
  return n


def _read_only(*arrays):
  for array in arrays:
    array.flags.writeable = False
  return arrays


def load(name, split, data_dir=None, *, seed=0, num_examples=None):
  """Loads one split of a data set as numpy arrays.

    Real sets (``'fashion_mnist'``, ``'mnist'``) come from the cache filled
    by ``bin/fetch_data``: train has 60,000 and test 10,000 examples, labels
    0..9. Synthetic out-of-distribution sets:

    * ``'constant'``: each image one random grey level 0..255; labels -1.
    * ``'uniform_noise'``: iid uniform pixels 0..255; labels -1.
    * ``'fashion_mnist_inverted'``: ``255 - x`` of the FashionMNIST split;
      labels kept.
    * ``'fashion_mnist_vflip'``: FashionMNIST split with rows reversed
      (upside down); labels kept.

    Args:
      name: one of ``DATASET_NAMES``.
      split: ``'train'`` or ``'test'``.
      data_dir: cache root; None means ``$TFP_FLOWS_DATA`` if set, else
        ``~/.cache/tfp_flows``.
      seed: non-negative int for ``'constant'`` and ``'uniform_noise'``;
        the same seed, split and size give identical arrays. Ignored by the
        other sets, which are deterministic anyway.
      num_examples: number of examples N, default the full split size of the
        matching FashionMNIST split (60,000 train, 10,000 test). For sets
        built from files, the first N examples are returned.

    Returns:
      ``(images, labels)``: read-only ``np.uint8`` array ``[N, 28, 28, 1]``
      and read-only ``np.int64`` array ``[N]``.

    Raises:
      ValueError: unknown name or split (listing the valid ones), or bad
        ``num_examples``/``seed`` value.
      TypeError: argument of the wrong type.
      FileNotFoundError: a needed cache file is missing; the message names
        the path and the ``bin/fetch_data`` command.
      CorruptDataError (a ValueError): a cache file has the wrong digest or
        contents; the message says to re-run ``bin/fetch_data --force``.
    """
  catalog.check_dataset_name(name)
  catalog.check_split(split)
  synthetic.check_seed(seed)
  n = _check_num_examples(num_examples, catalog.SPLIT_SIZES[split])
  root = cache.resolve_data_dir(data_dir)
  if name in catalog.REAL_DATASETS:
    images, labels = _load_real(name, split, root)
    if n == len(labels):
      return images, labels
    return images[:n], labels[:n]
  if name == "constant":
    return _read_only(*synthetic.constant_images(n, split, seed))
  if name == "uniform_noise":
    return _read_only(*synthetic.uniform_noise_images(n, split, seed))
  base_images, base_labels = _load_real(catalog.SYNTHETIC_BASE[name], split,
                                        root)
  transform = {
      "fashion_mnist_inverted": synthetic.invert_images,
      "fashion_mnist_vflip": synthetic.vflip_images,
  }[name]
  (images,) = _read_only(transform(base_images[:n]))
  return images, base_labels[:n]
