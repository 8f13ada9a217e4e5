"""Loads a trained `ImageClassifier` from its model directory.

A model directory holds two files, written by
`tfp_flows.classifiers.save_classifier` (via `train_classifier` or
`bin/train_classifier`):

  classifier.json   format version, architecture (`ImageClassifier`
                    constructor arguments, dataset included), the SHA-256 of
                    the weights file, training arguments and metrics.
  weights.npz       the network's variables (trainable and batch-norm
                    statistics) as float32 arrays `w000`, `w001`, ... in
                    `ImageClassifier.weights` order.

`classifier.json` is written last, and records the digest of the weights it
belongs to, so a directory whose weights were replaced without a matching
json (an interrupted retraining) is detected rather than silently loaded.
"""

import hashlib
import io
import json
import os
import zipfile

import numpy as np

from tfp_flows.classifiers import cnn

__all__ = ['CONFIG_FILENAME', 'FORMAT_VERSION', 'WEIGHTS_FILENAME',
           'load_classifier']

CONFIG_FILENAME = 'classifier.json'
WEIGHTS_FILENAME = 'weights.npz'
FORMAT_VERSION = 1


def _create_hint(model_dir, dataset=None, verb='create'):
  dataset = dataset or '{fashion_mnist,mnist}'
  return (f'{verb} it with `bin/train_classifier --dataset={dataset} '
          f'--model_dir={model_dir}`')


def _recreate_hint(model_dir, dataset=None):
  return _create_hint(model_dir, dataset, verb='re-create')


def _read_config(model_dir):
  """Returns the parsed, checked `classifier.json` of `model_dir`."""
  path = os.path.join(model_dir, CONFIG_FILENAME)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'{path} is missing: {model_dir!r} holds no trained classifier; '
        f'{_create_hint(model_dir)}.')
  try:
    with open(path, 'rb') as f:
      record = json.loads(f.read().decode('utf-8'))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f'{path} is corrupt (not valid JSON: {e}); '
                     f'{_recreate_hint(model_dir)}.') from None
  dataset = None
  if isinstance(record, dict) and isinstance(record.get('config'), dict):
    dataset = record['config'].get('dataset')
    dataset = dataset if isinstance(dataset, str) else None
  problem = None
  if not isinstance(record, dict):
    problem = 'the top level is not an object'
  elif record.get('format_version') != FORMAT_VERSION:
    problem = (f'format_version is {record.get("format_version")!r}, '
               f'expected {FORMAT_VERSION}')
  elif not isinstance(record.get('config'), dict):
    problem = '"config" is missing or not an object'
  elif not isinstance(record.get('weights_sha256'), str):
    problem = '"weights_sha256" is missing'
  if problem:
    raise ValueError(f'{path} is corrupt ({problem}); '
                     f'{_recreate_hint(model_dir, dataset)}.')
  return path, record, dataset


def load_classifier(model_dir):
  """Rebuilds a classifier saved in `model_dir` and restores its weights.

  Args:
    model_dir: str or os.PathLike, a directory written by `train_classifier`
      (or `bin/train_classifier`).

  Returns:
    The `ImageClassifier`, weights restored, with an extra attribute
    `metrics` (dict from `classifier.json`, e.g. `test_accuracy`) and
    `model_dir`.

  Raises:
    TypeError: `model_dir` is not a path.
    FileNotFoundError: the directory, `classifier.json` or `weights.npz` is
      missing; the message names the path and the command that creates it.
    ValueError: a corrupt or mismatched file (bad JSON, unknown format,
      weights whose digest, count or shapes do not match); same advice.
  """
  if not isinstance(model_dir, (str, os.PathLike)):
    raise TypeError(f'`model_dir` must be a path; got '
                    f'{type(model_dir).__name__}: {model_dir!r}.')
  model_dir = os.fspath(model_dir)
  if not os.path.isdir(model_dir):
    raise FileNotFoundError(
        f'classifier directory {model_dir!r} does not exist; '
        f'{_create_hint(model_dir)}.')
  config_path, record, dataset = _read_config(model_dir)
  hint = _create_hint(model_dir, dataset)
  fix = _recreate_hint(model_dir, dataset)
  try:
    classifier = cnn.ImageClassifier.from_config(record['config'])
  except (TypeError, ValueError) as e:
    raise ValueError(f'{config_path} is corrupt (bad "config": {e}); '
                     f'{fix}.') from None

  weights_path = os.path.join(model_dir, WEIGHTS_FILENAME)
  try:
    with open(weights_path, 'rb') as f:
      blob = f.read()
  except FileNotFoundError:
    raise FileNotFoundError(
        f'{weights_path} is missing (its {CONFIG_FILENAME} is there); '
        f'{hint}.') from None
  digest = hashlib.sha256(blob).hexdigest()
  if digest != record['weights_sha256']:
    raise ValueError(
        f'{weights_path} does not match {config_path} (SHA-256 {digest}, '
        f'recorded {record["weights_sha256"]}): the file is corrupt or from '
        f'another (interrupted) training run; {fix}.')
  try:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
      arrays = [npz[f'w{i:03d}'] for i in range(len(npz.files))]
  except (ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
    raise ValueError(f'{weights_path} is corrupt ({e}); {fix}.') from None
  try:
    classifier.set_weights(arrays)
  except ValueError as e:
    raise ValueError(f'{weights_path} does not fit the architecture in '
                     f'{config_path} ({str(e).rstrip(".")}); {fix}.') from None
  metrics = record.get('metrics')
  classifier.metrics = dict(metrics) if isinstance(metrics, dict) else {}
  classifier.model_dir = model_dir
  return classifier
