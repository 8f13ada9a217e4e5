"""Tests for tfp_flows.data: IDX parsing, loading, synthetic sets, pipelines.

Fetching (bin/fetch_data, bin/_fetch) is tested in test_fetch_data.py.
"""

import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows.data import cache
from tfp_flows.data import sources
from tfp_flows.data.idx import parse_idx
from tfp_flows.utils.atomic import atomic_write_bytes

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cached():
  """The default cache root, which bin/fetch_data must have filled.

  bin/test (through bin/_bootstrap.sh) runs bin/fetch_data first; without
  it the load below fails with the message naming the missing file and
  the command to run.
  """
  for name in data.REAL_DATASETS:
    data.load(name, "test")
  return cache.resolve_data_dir()


def _idx_bytes(array):
  """Raw uint8 IDX bytes of a rank-1 or rank-3 array (header, then data)."""
  array = np.asarray(array, np.uint8)
  magic = 0x0800 | array.ndim
  return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


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
  with pytest.raises(ValueError, match="`num_examples` must be a positive"):
    data.load("mnist", "test", num_examples=0)
  with pytest.raises(TypeError, match="`num_examples`.*bool True"):
    data.load("mnist", "test", num_examples=True)
  assert len(data.load("mnist", "test", num_examples=np.int64(7))[1]) == 7


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


# ---------------------------------------------------------------- IDX parser


def test_parse_idx_images_and_labels():
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  labels = np.array([7, 1, 255], dtype=np.uint8)
  parsed_images = parse_idx(_idx_bytes(images))
  parsed_labels = parse_idx(_idx_bytes(labels))
  np.testing.assert_array_equal(parsed_images, images)
  np.testing.assert_array_equal(parsed_labels, labels)
  assert parsed_images.dtype == parsed_labels.dtype == np.uint8
  assert not parsed_images.flags.writeable
  # A bytearray-backed view would be writable; parse_idx makes it read-only.
  assert not parse_idx(bytearray(_idx_bytes(labels))).flags.writeable


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
])
def test_parse_idx_rejects_bad_files(payload, pattern):
  with pytest.raises(data.IdxFormatError, match=pattern) as info:
    parse_idx(payload, "bad-file-ubyte")
  assert "bad-file-ubyte" in str(info.value)
  assert isinstance(info.value, ValueError)


def test_cached_file_with_bad_header_is_corrupt(tmp_path):
  # A file whose digest is accepted (here: through a manifest entry, as for
  # a tensorflow_datasets copy) but which does not parse is still refused.
  spec = sources.SPLIT_FILES["mnist"]["test"]
  directory = tmp_path / "mnist"
  directory.mkdir()
  bad = b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00"
  (directory / spec.images.name).write_bytes(bad)
  (directory / spec.labels.name).write_bytes(bad)
  digest = hashlib.sha256(bad).hexdigest()
  manifest = {
      "source": "test",
      "canonical_order": False,
      "files": {spec.images.name: digest, spec.labels.name: digest},
  }
  (directory / cache.MANIFEST_NAME).write_text(json.dumps(manifest))
  with pytest.raises(data.CorruptDataError, match="truncated.*--force"):
    data.load("mnist", "test", tmp_path)


def test_content_digest_ignores_order_only():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (50, 4, 4), dtype=np.uint8)
  labels = rng.integers(0, 10, 50)
  order = rng.permutation(50)
  digest = sources.content_digest(images, labels)
  assert sources.content_digest(images[order], labels[order]) == digest
  assert sources.content_digest(images, (labels + 1) % 10) != digest
  with pytest.raises(TypeError, match="uint8"):
    sources.content_digest(images.astype(np.int16), labels)
  with pytest.raises(ValueError, match="shape"):
    sources.content_digest(images, labels[:3])


def test_atomic_write_leaves_no_partial_file(tmp_path):
  path = tmp_path / "sub" / "file"
  atomic_write_bytes(path, b"old")
  with pytest.raises(TypeError):
    atomic_write_bytes(path, "not bytes")
  assert path.read_bytes() == b"old"
  assert sorted(p.name for p in path.parent.iterdir()) == ["file"]


def test_import_leaves_out_fetching_and_tensorflow():
  # bin/fetch_data (run by every bootstrap) imports this package: it must
  # stay numpy-only, and the library must not reach for the fetching code.
  code = ("import sys, tfp_flows.data; "
          "print(sorted(m for m in ('_fetch', '_fetch.fetch', "
          "'_fetch.providers', 'tensorflow', 'tensorflow_datasets', "
          "'tarfile', 'subprocess') if m in sys.modules))")
  result = subprocess.run([sys.executable, "-c", code],
                          capture_output=True,
                          text=True,
                          check=True,
                          cwd=REPO_ROOT)
  assert result.stdout.strip() == "[]"


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
  with pytest.raises(ValueError, match="`batch_size` must be a positive"):
    data.make_dataset(images, batch_size=0)
  with pytest.raises(TypeError, match="`shuffle_buffer_size`.*str"):
    data.make_dataset(images, batch_size=2, shuffle_buffer_size="8")
  with pytest.raises(TypeError, match="input_context"):
    data.make_dataset(images, batch_size=2, input_context=object())
  with pytest.raises(TypeError, match="numpy array"):
    data.make_dataset([[1]], batch_size=2)
