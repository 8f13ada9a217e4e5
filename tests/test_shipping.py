"""Shipping a finished run as `checkpoints/NAME/` (tfp_flows.experiments.shipping)."""

import csv
import json
import os

import gin
import numpy as np
import pytest

from tfp_flows import configurables, models
from tfp_flows.models import evaluation
from tfp_flows.experiments import shipping

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  """A finished 12-step run of the tiny 3-level Glow config."""
  model_dir = tmp_path_factory.mktemp('run') / 'tiny_glow3'
  gin.clear_config()
  gin.parse_config_files_and_bindings(
      [os.path.join(REPO, 'gin_configs', 'tiny_glow3.gin')],
      ['train.num_steps = 12', 'train.eval_every = 6',
       'train.summary_every = 3', 'train.sample_every = 0',
       'train.checkpoint_every = 6', 'train.num_eval_images = 64',
       'train.ema_decay = 0.9'])
  configurables.train(model_dir=str(model_dir),
                      operative_config=gin.operative_config_str,
                      verbose=False)
  gin.clear_config()
  return model_dir


@pytest.mark.slow
def test_ship_writes_a_loadable_weights_only_checkpoint(tiny_run, tmp_path):
  card = shipping.ship(str(tiny_run), 'tiny', str(tmp_path), goal=3.3,
                       literature='none', notes=['a note'])
  out = tmp_path / 'tiny'
  assert sorted(os.listdir(out)) == sorted([
      'MODEL_CARD.md', 'card.json', 'ckpt-12.data-00000-of-00001',
      'ckpt-12.index', 'model.json', 'operative_config.gin', 'samples.png',
      'training_curve.csv'])
  # No staging directory is left behind.
  assert os.listdir(tmp_path) == ['tiny']
  # Weights only: no optimizer slots, no EMA shadows.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  keys = tf.train.load_checkpoint(str(out / 'ckpt-12')
                                  ).get_variable_to_shape_map()
  assert not [k for k in keys if 'OPTIMIZER_SLOT' in k or k.startswith(
      ('ema/', 'optimizer/'))]
  # The shipped weights are the run's EMA weights, and score as the card says.
  shipped, trained = models.load(str(out)), models.load(str(tiny_run))
  for a, b in zip(shipped.trainable_variables, trained.trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  sample = shipping.card_sample('fashion_mnist')
  assert len(sample) == shipping.SAMPLE_SIZE
  bpd = evaluation.evaluate_bits_per_dim(shipped, sample).mean()
  assert bpd == pytest.approx(card['results']['own_sample']['bits_per_dim'],
                              abs=1e-4)
  assert card['results']['own_full']['num_images'] == 10000
  assert card['steps'] == 12 and card['dataset'] == 'fashion_mnist'
  # Both bits/dim definitions: 784 of the 1024 model pixels are the image.
  own = card['results']['own_full']
  assert own['bits_per_model_pixel'] == pytest.approx(
      own['bits_per_dim'] * 784 / 1024)
  assert json.loads((out / 'card.json').read_text()) == card
  text = (out / 'MODEL_CARD.md').read_text()
  assert 'missed by' in text and 'a note' in text and 'samples.png' in text


def test_training_curve_has_train_and_eval_columns(tiny_run):
  rows = shipping.training_curve(str(tiny_run))
  assert [r['step'] for r in rows] == [3, 6, 9, 12]
  assert all(np.isfinite(r['train_bits_per_dim']) for r in rows)
  evals = [r['step'] for r in rows if r['test_bits_per_dim'] is not None]
  assert evals == [6, 12]
  assert all(r['ood_bits_per_dim'] is not None for r in rows
             if r['step'] in evals)
  walls = [r['wall_seconds'] for r in rows]
  assert walls == sorted(walls) and walls[0] >= 0


@pytest.mark.slow
def test_curve_csv_round_trips(tiny_run, tmp_path):
  card = shipping.ship(str(tiny_run), 'tiny', str(tmp_path),
                       config_name='tiny_pixelcnn')
  # A run trained from a config with overrides names that config.
  assert card['config'] == 'tiny_pixelcnn'
  with open(tmp_path / 'tiny' / 'training_curve.csv', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  assert tuple(rows[0]) == shipping.CURVE_COLUMNS
  assert [int(r['step']) for r in rows] == [3, 6, 9, 12]
  assert rows[0]['test_bits_per_dim'] == ''


def test_ship_refuses_an_unfinished_run(tiny_run, tmp_path):
  # A copy whose config asks for more steps than were run.
  unfinished = tmp_path / 'unfinished'
  unfinished.mkdir()
  for name in os.listdir(tiny_run):
    if name.startswith('ckpt-12') or name == 'checkpoint':
      continue
    src = tiny_run / name
    if src.is_file():
      (unfinished / name).write_bytes(src.read_bytes())
  with pytest.raises(ValueError, match=r'stopped at step 6 of 12'):
    shipping.ship(str(unfinished), 'x', str(tmp_path / 'out'))
  assert not (tmp_path / 'out' / 'x').exists()


def test_read_card_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='card.json is missing'):
    shipping.read_card(str(tmp_path))
  (tmp_path / 'card.json').write_text('{not json')
  with pytest.raises(ValueError, match='card.json is corrupt'):
    shipping.read_card(str(tmp_path))
