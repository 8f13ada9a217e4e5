"""Atomic file writes: a reader sees either the old file or the new one.

A temporary file is written in the destination's own directory (so the final
``os.replace`` is a same-filesystem rename, which POSIX makes atomic) and is
removed again if anything fails, so no half-written file is ever left behind
under the final name.
"""

import contextlib
import json
import os
import tempfile

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

# mkstemp creates files as 0600; cache files are ordinary shared data.
_FILE_MODE = 0o644


def atomic_write_bytes(path, data):
  """Writes ``data`` to ``path`` atomically, creating parent directories.

    Args:
      path: destination file path (str or os.PathLike).
      data: bytes-like object to store.

    Raises:
      OSError: if the directory cannot be created or the write fails; the
        destination is then unchanged.
    """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(
      prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      # Without fsync a crash right after the rename can leave an empty
      # file under the final name on some filesystems.
      os.fsync(f.fileno())
    os.chmod(tmp_path, _FILE_MODE)
    os.replace(tmp_path, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp_path)
    raise


def atomic_write_text(path, text):
  """Writes ``text`` (UTF-8) to ``path`` atomically; see `atomic_write_bytes`."""
  atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
