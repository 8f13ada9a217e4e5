"""bin/reproduce's job (tfp_flows.experiments.study) end to end, on tiny settings."""

import json
import os
import subprocess
import sys

import numpy as np

from tfp_flows import classifiers
from tfp_flows.analysis import per_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_study_trains_quick_models_and_writes_the_report(tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  # Small classifiers in place, so the job uses them instead of training the
  # full ones (minutes); everything else is the job's own doing.
  for dataset in ('fashion_mnist', 'mnist'):
    classifiers.train_classifier(dataset, str(runs / 'classifiers' / dataset),
                                 epochs=1, num_train_examples=5000,
                                 verbose=False)
  cmd = [sys.executable, '-m', 'tfp_flows.experiments.study',
         f'--runs_dir={runs}', f'--output_dir={out}', '--configs=tiny_glow',
         '--num_images=12', '--quick_steps=12', '--quick_minutes=5']
  result = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          cwd=REPO)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'training a quick run (12 steps' in result.stdout
  assert f'Report: {out / "report.md"}' in result.stdout
  # The quick run reached its final step and was used.
  assert (runs / 'quick' / 'tiny_glow' / 'ckpt-12.index').exists()
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['config']['models']['tiny_glow']['checkpoint'].endswith(
      'ckpt-12')
  table = per_image.read_csv(str(out / 'per_image.csv'))
  # Classified where a classifier knows the labels, not elsewhere.
  fm = table['dataset'] == 'fashion_mnist'
  assert (table['classifier_pred_before'][fm] >= 0).all()
  assert (table['classifier_pred_before'][table['dataset'] == 'constant']
          == -1).all()
  acc = [c['classifier_accuracy'] for c in summary['clean']
         if c['dataset'] in ('fashion_mnist', 'mnist')]
  # Chance is 0.1; a one-epoch classifier on 5,000 images does far better.
  assert all(a is not None and a > 0.3 for a in acc), acc
  assert np.isfinite(table['bpd_after']).all()
  # A second run reuses the run, the classifiers and the analysis cache.
  again = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         cwd=REPO)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'using the quick run' in again.stdout
  assert 'training' not in again.stdout
