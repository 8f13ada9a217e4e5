"""The files of each real data set and the digests that identify them.

Digests are of the *decompressed* IDX files, so they do not depend on how a
distributor compresses them (the Debian package ships gzip files, the npm
package raw files). ``SplitFiles.content_digest`` is an order-independent
digest of a split's (image, label) examples (see ``content_digest``), used to
accept copies whose example order differs from the original files, such as
those rebuilt from tensorflow_datasets. Where the files come from is the
business of ``bin/fetch_data`` (``bin/_fetch``), not of the library.
"""

import dataclasses
import hashlib

import numpy as np

from tfp_flows.data.errors import CorruptDataError

__all__ = [
    "IdxFile",
    "SplitFiles",
    "SPLIT_FILES",
    "check_content_digest",
    "content_digest",
]


@dataclasses.dataclass(frozen=True)
class IdxFile:
  """One decompressed IDX file.

    Attributes:
      name: file name in the cache and in the upstream distributions,
        e.g. ``'train-images-idx3-ubyte'``.
      sha256: hex SHA-256 of the decompressed file.
      size: size in bytes of the decompressed file.
    """

  name: str
  sha256: str
  size: int


@dataclasses.dataclass(frozen=True)
class SplitFiles:
  """The two IDX files of one split, plus its order-independent digest."""

  images: IdxFile
  labels: IdxFile
  content_digest: str


_TRAIN_IMAGES_SIZE = 47040016  # 16-byte header + 60000 * 28 * 28
_TRAIN_LABELS_SIZE = 60008  # 8-byte header + 60000
_TEST_IMAGES_SIZE = 7840016
_TEST_LABELS_SIZE = 10008

SPLIT_FILES = {
    "fashion_mnist": {
        "train":
            SplitFiles(
                images=IdxFile(
                    "train-images-idx3-ubyte",
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    _TRAIN_IMAGES_SIZE),
                labels=IdxFile(
                    "train-labels-idx1-ubyte",
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    _TRAIN_LABELS_SIZE),
                content_digest=(
                    "fb88a2f5c1b590c907f860b47803d006e4fa7b276cdb551799af9d443accdff7"
                ),
            ),
        "test":
            SplitFiles(
                images=IdxFile(
                    "t10k-images-idx3-ubyte",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    _TEST_IMAGES_SIZE),
                labels=IdxFile(
                    "t10k-labels-idx1-ubyte",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                    _TEST_LABELS_SIZE),
                content_digest=(
                    "0b381379398a0943a88bf3864ff3f5177903dcf178030b4b74c495294b38fa7c"
                ),
            ),
    },
    "mnist": {
        "train":
            SplitFiles(
                images=IdxFile(
                    "train-images-idx3-ubyte",
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    _TRAIN_IMAGES_SIZE),
                labels=IdxFile(
                    "train-labels-idx1-ubyte",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    _TRAIN_LABELS_SIZE),
                content_digest=(
                    "54e1ab866c9484947dd4821c52bb7a43938f555d6b046be6af55247f8e6ffc64"
                ),
            ),
        "test":
            SplitFiles(
                images=IdxFile(
                    "t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    _TEST_IMAGES_SIZE),
                labels=IdxFile(
                    "t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    _TEST_LABELS_SIZE),
                content_digest=(
                    "97b756d55950f1841ebd48df7379b9b2fc87a10d63e08d6213dad41d564e8508"
                ),
            ),
    },
}


def content_digest(images, labels):
  """Returns an order-independent SHA-256 of a labelled image set.

    Each example is hashed as its image bytes followed by its label byte; the
    per-example digests are sorted and hashed together. Two copies of a data
    set in different example orders (as produced by tensorflow_datasets) thus
    get the same digest.

    Args:
      images: ``np.uint8`` array ``[N, ...]``.
      labels: integer array ``[N]`` with values in 0..255.

    Returns:
      str: 64 lowercase hex digits.

    Raises:
      TypeError: if ``images`` is not uint8.
      ValueError: if ``labels`` is not ``[N]`` or leaves 0..255.
    """
  images = np.asarray(images)
  labels = np.asarray(labels)
  if images.dtype != np.uint8:
    raise TypeError(f"content_digest needs uint8 images, got {images.dtype}")
  if labels.shape != (images.shape[0],):
    raise ValueError(
        f"content_digest needs labels of shape [{images.shape[0]}], got "
        f"{labels.shape}")
  if labels.size and (labels.min() < 0 or labels.max() > 255):
    raise ValueError("content_digest needs labels in 0..255")
  records = np.concatenate(
      [images.reshape(images.shape[0], -1),
       labels.astype(np.uint8).reshape(-1, 1)],
      axis=1)
  digests = sorted(hashlib.sha256(r.tobytes()).digest() for r in records)
  return hashlib.sha256(b"".join(digests)).hexdigest()


def check_content_digest(spec, images, labels, description):
  """Raises unless `images` and `labels` form the split `spec` describes.

  Args:
    spec: the split's entry of `SPLIT_FILES` (its `content_digest`).
    images: ``np.uint8`` array ``[N, 28, 28]`` or ``[N, 28, 28, 1]``.
    labels: integer array ``[N]``.
    description: Python `str` naming the pair (files, source) in the error.

  Raises:
    CorruptDataError: the order-independent digest differs; the message
      names `description` and both digests.
  """
  digest = content_digest(images, labels)
  if digest != spec.content_digest:
    raise CorruptDataError(
        f"{description} has content digest {digest}, expected "
        f"{spec.content_digest}")
