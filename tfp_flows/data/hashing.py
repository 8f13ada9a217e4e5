"""SHA-256 helpers, including a per-process memo of file digests.

Hashing the 47 MB training images takes a noticeable fraction of a second,
and the same files are checked by ``fetch`` and again by every ``load``; the
memo makes repeated checks of an unchanged file free. A file counts as
unchanged while its resolved path, size and modification time (ns) match.
"""

import hashlib
import os
import threading

import numpy as np

__all__ = [
    "sha256_bytes",
    "file_key",
    "memo_file_sha256",
    "content_digest",
    "clear_memo",
]

_CHUNK = 1 << 20
_memo = {}
_memo_lock = threading.Lock()


def sha256_bytes(data):
  """Returns the hex SHA-256 of a bytes-like object."""
  return hashlib.sha256(data).hexdigest()


def file_key(path):
  """Returns ``(resolved path, size, mtime_ns)`` identifying a file version.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
    """
  real = os.path.realpath(os.fspath(path))
  st = os.stat(real)
  return (real, st.st_size, st.st_mtime_ns)


def memo_file_sha256(path, data=None):
  """Returns the hex SHA-256 of a file, memoized per file version.

    Args:
      path: file path (str or os.PathLike).
      data: the file's bytes if the caller has already read them, which
        avoids reading the file twice on a memo miss.

    Returns:
      str: 64 lowercase hex digits.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
    """
  # The key is taken before reading, so a file rewritten mid-read gets a
  # new key on the next call and is hashed again.
  key = file_key(path)
  with _memo_lock:
    cached = _memo.get(key)
  if cached is not None:
    return cached
  if data is not None:
    digest = sha256_bytes(data)
  else:
    h = hashlib.sha256()
    with open(key[0], "rb") as f:
      for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    digest = h.hexdigest()
  with _memo_lock:
    _memo[key] = digest
  return digest


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
  records = np.concatenate([
      images.reshape(images.shape[0], -1),
      labels.astype(np.uint8).reshape(-1, 1)
  ],
                           axis=1)
  digests = sorted(hashlib.sha256(r.tobytes()).digest() for r in records)
  return hashlib.sha256(b"".join(digests)).hexdigest()


def clear_memo():
  """Forgets all memoized file digests (for tests)."""
  with _memo_lock:
    _memo.clear()
