"""Semantics classifiers: learning, save/load, input checks, CLI and gin."""

import glob
import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest

from tfp_flows import classifiers
from tfp_flows import data
from tfp_flows.classifiers import configurables  # pylint: disable=unused-import
from tfp_flows.classifiers import loading
from tfp_flows.classifiers import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, 'gin_configs', 'classifiers',
                                        '*.gin')))
# Small enough to keep the module fast, big enough that one epoch must learn.
NUM_TRAIN = 5000
NUM_TEST = 1000
# A tiny architecture for the tests that need no learning.
TINY = dict(block_filters=((4,), (8,)), dense_units=16)


@pytest.fixture(scope='module')
def mnist_test():
  images, labels = data.load('mnist', 'test')
  return images[:NUM_TEST], labels[:NUM_TEST]


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp('mnist_classifier')
  # Momentum 0.9: batch norm's moving statistics must settle within the
  # run's 157 steps (measured: 95.2% on the 10k test images, seeds 0-2 all
  # above 94.5%).
  metrics = classifiers.train_classifier(
      'mnist', str(model_dir), epochs=1, batch_size=32, learning_rate=2e-3,
      num_train_examples=NUM_TRAIN, batch_norm_momentum=0.9, verbose=False)
  return model_dir, metrics


def _tiny_classifier(seed=0):
  """An untrained tiny classifier with non-trivial batch-norm statistics."""
  clf = classifiers.ImageClassifier('mnist', seed=seed, **TINY)
  rng = np.random.default_rng(seed)
  for v in clf.weights:
    if 'moving' in v.name:  # Saved too, though not trainable.
      v.assign(rng.uniform(0.5, 2.0, v.shape).astype(np.float32))
  return clf


def _cli(*args, cwd=REPO):
  return subprocess.run(
      [sys.executable, '-m', 'tfp_flows.classifiers.cli', *args],
      capture_output=True, text=True, timeout=300, cwd=cwd)


def _our_stderr_lines(stderr):
  """stderr without TensorFlow's C++ start-up chatter (CUDA stubs etc.)."""
  assert 'Traceback' not in stderr, stderr
  return [line for line in stderr.splitlines()
          if line.startswith('train_classifier:')]


# --------------------------------------------------------------- learning


def test_one_epoch_on_a_few_thousand_mnist_images_learns(trained_dir,
                                                         mnist_test):
  model_dir, metrics = trained_dir
  # Chance is 10%; a mismatch of images and labels, a scaling mismatch
  # between training and prediction, or a broken update stays far below.
  assert metrics['test_accuracy'] > 0.9, metrics
  assert metrics['num_test_examples'] == 10000
  assert metrics['num_train_examples'] == NUM_TRAIN
  assert metrics['steps'] == -(-NUM_TRAIN // 32)
  assert metrics['train_seconds'] > 0 and metrics['images_per_second'] > 0
  clf = classifiers.load_classifier(model_dir)
  images, labels = mnist_test
  accuracy = classifiers.evaluate_classifier(clf, images, labels)
  assert accuracy > 0.9
  assert clf.metrics['test_accuracy'] == metrics['test_accuracy']
  assert clf.dataset == 'mnist' and clf.num_classes == 10
  assert clf.image_shape == (28, 28, 1)
  assert sorted(os.listdir(model_dir)) == [loading.CONFIG_FILENAME,
                                           loading.WEIGHTS_FILENAME]
  with open(os.path.join(model_dir, loading.CONFIG_FILENAME)) as f:
    record = json.load(f)
  assert record['training']['augmentation'] == 'none'


def test_predictions_are_probabilities_and_labels(trained_dir, mnist_test):
  clf = classifiers.load_classifier(trained_dir[0])
  images, _ = mnist_test
  proba = clf.predict_proba(images[:50])
  assert proba.dtype == np.float32 and proba.shape == (50, 10)
  assert np.all(proba >= 0)
  np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
  labels = clf.predict(images[:50])
  assert labels.dtype == np.int64 and labels.shape == (50,)
  np.testing.assert_array_equal(labels, proba.argmax(axis=1))
  assert clf.predict_proba(images[:0]).shape == (0, 10)


@pytest.mark.slow
def test_training_is_deterministic_given_the_seed(tmp_path):
  digests = []
  for seed, name in ((0, 'a'), (0, 'b'), (1, 'c')):
    classifiers.train_classifier(
        'mnist', tmp_path / name, epochs=1, batch_size=32,
        num_train_examples=320, seed=seed, verbose=False, **TINY)
    with open(tmp_path / name / loading.CONFIG_FILENAME) as f:
      digests.append(json.load(f)['weights_sha256'])
  assert digests[0] == digests[1] != digests[2]


# ----------------------------------------------------------- save / load


def test_save_load_roundtrip_gives_identical_predictions(tmp_path,
                                                         mnist_test):
  clf = _tiny_classifier(seed=3)
  classifiers.save_classifier(clf, tmp_path, metrics={'test_accuracy': 0.5})
  loaded = classifiers.load_classifier(str(tmp_path))
  assert loaded.get_config() == clf.get_config()
  for a, b in zip(clf.get_weights(), loaded.get_weights()):
    np.testing.assert_array_equal(a, b)
  images, _ = mnist_test
  np.testing.assert_array_equal(loaded.predict_proba(images[:64]),
                                clf.predict_proba(images[:64]))
  assert loaded.metrics == {'test_accuracy': 0.5}
  assert loaded.model_dir == str(tmp_path)


def test_interrupted_resave_is_detected_not_loaded(tmp_path, monkeypatch):
  classifiers.save_classifier(_tiny_classifier(seed=1), tmp_path)

  def interrupted(*unused_args, **unused_kwargs):
    raise KeyboardInterrupt
  # New weights are in place, the matching json never arrives.
  monkeypatch.setattr(training.atomic, 'atomic_write_json', interrupted)
  with pytest.raises(KeyboardInterrupt):
    classifiers.save_classifier(_tiny_classifier(seed=2), tmp_path)
  assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
  with pytest.raises(ValueError, match='does not match'):
    classifiers.load_classifier(tmp_path)


def test_load_errors_name_the_path_and_the_fix(tmp_path):
  missing = tmp_path / 'nope'
  with pytest.raises(FileNotFoundError, match='nope.*bin/train_classifier'):
    classifiers.load_classifier(missing)
  with pytest.raises(FileNotFoundError, match='classifier.json is missing'):
    classifiers.load_classifier(tmp_path)
  with pytest.raises(TypeError, match='model_dir'):
    classifiers.load_classifier(3)

  classifiers.save_classifier(_tiny_classifier(), tmp_path)
  json_path = tmp_path / loading.CONFIG_FILENAME
  weights_path = tmp_path / loading.WEIGHTS_FILENAME
  good_json = json_path.read_bytes()
  good_weights = weights_path.read_bytes()

  json_path.write_bytes(good_json[:len(good_json) // 2])
  with pytest.raises(ValueError, match=r'classifier\.json is corrupt.*'
                     r're-create it with `bin/train_classifier --dataset='):
    classifiers.load_classifier(tmp_path)
  record = json.loads(good_json)
  record['config']['dense_units'] = 17
  json_path.write_text(json.dumps(record))
  with pytest.raises(ValueError, match=r'does not fit the architecture.*'
                     r'bin/train_classifier --dataset=mnist --model_dir='):
    classifiers.load_classifier(tmp_path)
  del record['weights_sha256']
  json_path.write_text(json.dumps(record))
  with pytest.raises(ValueError, match='weights_sha256'):
    classifiers.load_classifier(tmp_path)
  json_path.write_bytes(good_json)

  weights_path.write_bytes(good_weights[:100])
  with pytest.raises(ValueError, match=r'weights\.npz does not match'):
    classifiers.load_classifier(tmp_path)
  weights_path.unlink()
  with pytest.raises(FileNotFoundError, match=r'weights\.npz is missing'):
    classifiers.load_classifier(tmp_path)


# ------------------------------------------------------------- inputs


def test_uint8_float_and_int_inputs_agree_without_retracing(mnist_test):
  clf = _tiny_classifier()
  images = mnist_test[0][:40]
  reference = clf.predict_proba(images)
  for dtype in (np.float32, np.float64, np.int64):
    np.testing.assert_array_equal(clf.predict_proba(images.astype(dtype)),
                                  reference)
  # Batching changes memory use, not results (up to float rounding).
  np.testing.assert_allclose(clf.predict_proba(images, batch_size=7),
                             reference, atol=1e-6)
  # Continuous, noisy images slightly outside [0, 255] are accepted.
  noisy = images + np.random.default_rng(0).uniform(-2, 2, images.shape)
  assert noisy.min() < 0 and noisy.max() > 255
  assert np.all(np.isfinite(clf.predict_proba(noisy.astype(np.float32))))
  assert clf.tracing_count == 1


def test_bad_inputs_raise_clear_errors(mnist_test):
  clf = _tiny_classifier()
  images = mnist_test[0][:4]
  with pytest.raises(ValueError,
                     match=r'shape \[N, 28, 28, 1\]; got \[28, 28, 1\]'):
    clf.predict(images[0])
  with pytest.raises(ValueError, match=r'shape \[N, 28, 28, 1\]'):
    clf.predict(np.zeros((2, 32, 32, 1), np.uint8))
  bad = images.astype(np.float32)
  bad[1, 3, 4, 0] = np.nan
  with pytest.raises(ValueError, match=r'NaN or inf.*\(1, 3, 4, 0\)'):
    clf.predict_proba(bad)
  bad[1, 3, 4, 0] = np.inf
  with pytest.raises(ValueError, match='NaN or inf'):
    clf.predict(bad)
  with pytest.raises(TypeError, match='dtype'):
    clf.predict(np.full((1, 28, 28, 1), 'a'))
  with pytest.raises(TypeError, match='dtype'):
    clf.predict(np.zeros((1, 28, 28, 1), bool))
  with pytest.raises(ValueError, match='batch_size'):
    clf.predict(images, batch_size=0)


def test_bad_constructor_and_training_arguments(tmp_path):
  with pytest.raises(ValueError, match='block_filters'):
    classifiers.ImageClassifier('mnist', block_filters=())
  with pytest.raises(ValueError, match='dropout_rate'):
    classifiers.ImageClassifier('mnist', dropout_rate=1.0)
  with pytest.raises(ValueError, match='image_shape'):
    classifiers.ImageClassifier('mnist', image_shape=(28, 28))
  model_dir = tmp_path / 'never_created'
  for kwargs, match in [(dict(epochs=0), 'epochs'),
                        (dict(batch_size=2.5), 'batch_size'),
                        (dict(learning_rate=-1.0), 'learning_rate'),
                        (dict(num_train_examples=60001),
                         'num_train_examples'),
                        (dict(dense_units=0), 'dense_units')]:
    with pytest.raises((TypeError, ValueError), match=match):
      classifiers.train_classifier('mnist', model_dir, verbose=False,
                                   **kwargs)
  with pytest.raises(ValueError, match='fashion_mnist, mnist'):
    classifiers.train_classifier('cifar10', model_dir, verbose=False)
  assert not model_dir.exists()


# --------------------------------------------------------- CLI and gin


@pytest.mark.slow
def test_cli_bad_gin_binding_is_a_one_line_error(tmp_path):
  model_dir = tmp_path / 'run'
  result = _cli(f'--gin_file={CONFIGS[0]}', f'--model_dir={model_dir}',
                '--gin_param=train_classifier.epoch = 1')
  assert result.returncode == 2, result.stderr
  lines = _our_stderr_lines(result.stderr)
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(
      "train_classifier: error: bad gin configuration: Configurable "
      "'train_classifier' doesn't have a parameter named 'epoch'")
  assert result.stderr.rstrip().endswith(lines[0])
  assert not model_dir.exists()


@pytest.mark.slow
def test_cli_bad_value_is_a_one_line_error(tmp_path):
  result = _cli('--dataset=mnist', f'--model_dir={tmp_path / "run"}',
                '--gin_param=train_classifier.epochs = 0')
  assert result.returncode == 2, result.stderr
  assert _our_stderr_lines(result.stderr) == [
      'train_classifier: error: `epochs` must be a positive integer; got 0.']


@pytest.mark.slow
def test_wrapper_trains_into_a_directory_relative_to_the_caller(tmp_path):
  with open(os.path.join(REPO, '.venv', '.tfp_flows-install-stamp')) as f:
    stamp = f.read().split()
  import hashlib  # pylint: disable=g-import-not-at-top
  with open(os.path.join(REPO, 'setup.py'), 'rb') as f:
    if stamp != [hashlib.sha256(f.read()).hexdigest(), REPO]:
      pytest.skip('the venv needs a reinstall; bin/train_classifier would '
                  'run pip')
  env = dict(os.environ, TFP_FLOWS_SKIP_FETCH='1')
  result = subprocess.run(
      [os.path.join(REPO, 'bin', 'train_classifier'), '--dataset=mnist',
       '--model_dir=run', '--gin_param=train_classifier.epochs = 1',
       '--gin_param=train_classifier.num_train_examples = 256',
       '--gin_param=train_classifier.block_filters = ((8,), (16,))'],
      capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'epoch 1/1: loss' in result.stdout
  assert 'train_classifier: done: test accuracy' in result.stdout
  model_dir = tmp_path / 'run'
  assert sorted(os.listdir(model_dir)) == [
      'classifier.json', 'operative_config.gin', 'weights.npz']
  assert 'train_classifier.num_train_examples = 256' in (
      model_dir / 'operative_config.gin').read_text()
  clf = classifiers.load_classifier(model_dir)
  assert clf.get_config()['block_filters'] == [[8], [16]]


def test_there_are_classifier_configs_for_both_datasets():
  names = sorted(os.path.basename(p) for p in CONFIGS)
  assert names == ['fashion_mnist.gin', 'mnist.gin']


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_gin_config_parses_and_builds_its_classifier(path, mnist_test):
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config_file(path)
  try:
    bindings = gin.get_bindings('train_classifier')
  finally:
    with gin.unlock_config():
      gin.clear_config()
  dataset = os.path.basename(path)[:-len('.gin')]
  assert bindings['dataset'] == dataset
  assert bindings['epochs'] >= 1
  architecture = {k: bindings[k] for k in
                  ('block_filters', 'dense_units', 'dropout_rate',
                   'batch_norm', 'batch_norm_momentum') if k in bindings}
  clf = classifiers.ImageClassifier(dataset, **architecture)
  proba = clf.predict_proba(mnist_test[0][:2])
  assert proba.shape == (2, 10) and np.all(np.isfinite(proba))
