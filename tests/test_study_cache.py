"""The SIT study's on-disk cache covers discrete and continuous scoring.

`tests/test_sit_study.py::test_rerun_reuses_the_cache` checks the rerun of a
whole study through the discrete scorer only. Here an untrained tiny Glow (no
training, so this is fast) goes through `run_study` with one discrete and one
continuous SIT, and both scorers (`evaluation.evaluate_bits_per_dim` and
`scoring.continuous_bits_per_dim`) are counted: a rerun calls neither, and a
damaged continuous entry is recomputed by the continuous scorer alone.
"""

import os

import numpy as np
import pytest

from tfp_flows import sits
from tfp_flows.analysis import scoring
from tfp_flows.analysis import sit_study
from tfp_flows.models import evaluation
from tfp_flows.models import Glow

NUM_IMAGES = 10
DATASETS = ['constant']


def _sits():
  return [sits.DiscreteNoise(2),
          sits.ContinuousNoise(0.001, 'normal', 'background')]


@pytest.fixture(scope='module')
def study_model():
  model = Glow(num_levels=2, num_steps_per_level=1, hidden_channels=4)
  # run_study reads these from a loaded model; no checkpoint behind it.
  model.training_dataset = 'fashion_mnist'
  model.checkpoint_path = None
  return sit_study.StudyModel('tiny', model)


@pytest.fixture
def counted(monkeypatch):
  """Counts calls of the discrete and the continuous scorer."""
  calls = {'discrete': 0, 'continuous': 0}
  discrete = evaluation.evaluate_bits_per_dim
  continuous = scoring.continuous_bits_per_dim

  def count_discrete(*args, **kwargs):
    calls['discrete'] += 1
    return discrete(*args, **kwargs)

  def count_continuous(*args, **kwargs):
    calls['continuous'] += 1
    return continuous(*args, **kwargs)
  monkeypatch.setattr(evaluation, 'evaluate_bits_per_dim', count_discrete)
  monkeypatch.setattr(scoring, 'continuous_bits_per_dim', count_continuous)
  return calls


def _run(model, out):
  return sit_study.run_study(
      [model], out, sits=_sits(), datasets=DATASETS, num_images=NUM_IMAGES,
      batch_size=4, num_bootstrap=50, write_figures=False,
      write_tensorboard=False, verbose=False)


def _continuous_entry(out, dataset='fashion_mnist'):
  """Cache file of the continuous SIT's scores on `dataset`."""
  continuous = [s for s in _sits() if s.kind == 'continuous']
  assert len(continuous) == 1
  return os.path.join(out, 'cache', 'tiny', dataset,
                      continuous[0].name + '.npz')


def test_rerun_reuses_discrete_and_continuous_scores(study_model, counted,
                                                     tmp_path):
  out = str(tmp_path / 'study')
  first = _run(study_model, out)
  # Two data sets: clean + discrete SIT through the discrete scorer, clean
  # reference + continuous SIT through the continuous one.
  assert counted == {'discrete': 4, 'continuous': 4}
  evaluations = {r['evaluation'] for r in first['results']}
  assert 'discrete' in evaluations and len(evaluations) == 2

  counted.update(discrete=0, continuous=0)
  again = _run(study_model, out)
  assert counted == {'discrete': 0, 'continuous': 0}
  assert again['results'] == first['results']


def test_damaged_continuous_entry_is_recomputed_alone(study_model, counted,
                                                      tmp_path):
  out = str(tmp_path / 'study')
  first = _run(study_model, out)
  entry = _continuous_entry(out)
  assert os.path.getsize(entry) > 0
  with open(entry, 'wb') as f:
    f.write(b'not a zip file')

  counted.update(discrete=0, continuous=0)
  with pytest.warns(RuntimeWarning, match='unreadable'):
    again = _run(study_model, out)
  assert counted == {'discrete': 0, 'continuous': 1}
  assert again['results'] == first['results']
  with np.load(entry) as f:
    assert np.isfinite(f['bpd']).all()
