"""Rebuilding a trained model from its directory, without gin (`models.load`)."""

import json
import os
import shutil

import gin
import numpy as np
import pytest

from tfp_flows import models
from tfp_flows.models import loading
from tfp_flows.training import configurables  # pylint: disable=unused-import

import tiny_runs


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp('tiny_run')
  tiny_runs.train_tiny(
      model_dir, dataset='mnist', num_steps=3, warmup_steps=1,
      num_eval_images=32, init_batch_size=32,
      operative_config=tiny_runs.operative_config(tiny_runs.tiny_glow(),
                                                  'mnist'))
  return model_dir


def _copy(run, tmp_path):
  target = tmp_path / 'run'
  shutil.copytree(run, target)
  return target


def test_trainer_writes_model_json(tiny_run):
  with open(tiny_run / loading.MODEL_JSON) as f:
    spec = json.load(f)
  assert spec['model'] == 'Glow'
  assert spec['training_dataset'] == 'mnist'
  assert spec['config']['num_steps_per_level'] == 1
  assert spec['config']['hidden_channels'] == 8


def test_load_leaves_global_gin_state_alone(tiny_run):
  gin.clear_config()
  try:
    gin.parse_config('train.num_steps = 77')
    model = models.load(str(tiny_run))
    assert gin.query_parameter('train.num_steps') == 77
  finally:
    gin.clear_config()
  assert model.training_dataset == 'mnist'
  assert model.config['hidden_channels'] == 8


def test_operative_config_rebuilds_the_same_model(tiny_run, tmp_path):
  # Directories written before model.json existed load from their config.
  run = _copy(tiny_run, tmp_path)
  os.remove(run / loading.MODEL_JSON)
  from_gin_text = models.load(str(run))
  from_json = models.load(str(tiny_run))
  assert from_gin_text.config == from_json.config
  assert from_gin_text.training_dataset == 'mnist'
  images = tiny_runs.first_images(16, 'mnist')
  np.testing.assert_allclose(from_gin_text.bits_per_dim(images, seed=0),
                             from_json.bits_per_dim(images, seed=0))


@pytest.mark.parametrize('content, problem', [
    ('{"model": "Flow", "config": {}, "training_dataset": "mnist"}',
     "Unknown model class 'Flow'"),
    ('{"model": "Glow", "config": {}', 'Expecting'),
    ('{"model": "Glow", "training_dataset": "mnist"}', "'config'"),
])
def test_a_bad_model_json_is_one_clear_error(tiny_run, tmp_path, content,
                                            problem):
  run = _copy(tiny_run, tmp_path)
  (run / loading.MODEL_JSON).write_text(content)
  with pytest.raises(ValueError, match='Cannot use .*model.json: .*') as e:
    models.load(str(run))
  assert problem in str(e.value)


def test_a_config_naming_no_model_class_is_one_clear_error(tiny_run,
                                                           tmp_path):
  run = _copy(tiny_run, tmp_path)
  os.remove(run / loading.MODEL_JSON)
  text = (run / 'operative_config.gin').read_text()
  (run / 'operative_config.gin').write_text(
      text.replace('@Glow', '@Flow'))
  with pytest.raises(ValueError, match=r'operative_config.gin: '
                     r'train.model_fn = @Flow names no model class'):
    models.load(str(run))


def test_a_directory_without_spec_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match='neither model.json nor '
                     'operative_config.gin'):
    models.load(str(tmp_path))
