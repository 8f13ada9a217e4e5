"""Layout of the local data cache and its provenance manifest.

Layout: ``<root>/<dataset>/<idx file name>`` holding decompressed IDX files,
plus ``<root>/<dataset>/source.json`` recording where they came from. The
root is the ``data_dir`` argument, else ``$TFP_FLOWS_DATA``, else
``~/.cache/tfp_flows``. ``bin/fetch_data`` fills the cache and writes the
manifest; the library only reads both.

The manifest is a JSON object ``{"source": str, "canonical_order": bool,
"files": {file name: hex SHA-256}}``. ``canonical_order`` is False for
copies whose examples are in another order than the original distribution
(rebuilt from tensorflow_datasets): their file digests then differ from the
recorded ones and are accepted only through the manifest.
"""

import json
import os
import pathlib

__all__ = [
    "ENV_VAR",
    "DEFAULT_DATA_DIR",
    "MANIFEST_NAME",
    "resolve_data_dir",
    "dataset_dir",
    "fetch_command",
    "fetch_hint",
    "read_manifest",
    "accepted_sha256",
]

ENV_VAR = "TFP_FLOWS_DATA"
DEFAULT_DATA_DIR = os.path.join("~", ".cache", "tfp_flows")
MANIFEST_NAME = "source.json"


def resolve_data_dir(data_dir=None):
  """Returns the absolute cache root.

    Args:
      data_dir: explicit root (str or os.PathLike), or None to use
        ``$TFP_FLOWS_DATA`` if set and non-empty, else ``~/.cache/tfp_flows``.

    Returns:
      pathlib.Path: absolute, user-expanded path (it need not exist yet).

    Raises:
      TypeError: if ``data_dir`` is neither None, str nor os.PathLike.
    """
  if data_dir is None:
    data_dir = os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
  elif not isinstance(data_dir, (str, os.PathLike)):
    raise TypeError("data_dir must be a str, os.PathLike or None, got "
                    f"{type(data_dir).__name__}: {data_dir!r}")
  expanded = os.path.expanduser(os.fspath(data_dir))
  return pathlib.Path(os.path.abspath(expanded))


def dataset_dir(root, name):
  """Returns ``<root>/<name>`` as a pathlib.Path."""
  return pathlib.Path(root) / name


def fetch_command(root, force=False):
  """Returns the shell command that fills cache ``root``.

    ``--data_dir`` is only included when ``root`` is not what the command
    would pick by itself, to keep the common message short.
    """
  parts = ["bin/fetch_data"]
  if pathlib.Path(root) != resolve_data_dir(None):
    parts += ["--data_dir", str(root)]
  if force:
    parts.append("--force")
  return " ".join(parts)


def fetch_hint(root, force=False):
  """Returns a sentence telling the user how to (re)fetch into ``root``."""
  return (f"run `{fetch_command(root, force)}` from the repository root "
          "(bin/reproduce also runs it)")


def read_manifest(directory):
  """Reads ``<directory>/source.json``.

    Returns:
      dict: the manifest, or ``{}`` if it is missing or unreadable. It is
      provenance only, so a damaged manifest must not block canonical files.
    """
  try:
    path = pathlib.Path(directory) / MANIFEST_NAME
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
  except (OSError, ValueError):
    return {}
  return manifest if isinstance(manifest, dict) else {}


def accepted_sha256(idx_file, manifest):
  """Returns the set of SHA-256 digests acceptable for a cached file.

    Args:
      idx_file: the ``sources.IdxFile`` record.
      manifest: dict from ``read_manifest``.

    Returns:
      frozenset of hex digests: the recorded canonical one, plus the
      manifest's entry when the manifest declares a non-canonical order
      (a copy rebuilt from tensorflow_datasets, already checked against the
      order-independent content digest when it was fetched).
    """
  accepted = {idx_file.sha256}
  if manifest.get("canonical_order") is False:
    recorded = manifest.get("files")
    digest = (
        recorded.get(idx_file.name) if isinstance(recorded, dict) else None)
    if isinstance(digest, str):
      accepted.add(digest)
  return frozenset(accepted)
