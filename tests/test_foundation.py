"""The foundation experiment (bin/reproduce) end to end on a tiny configuration."""

import json
import os

import pytest

from tfp_flows.experiments import foundation


def test_foundation_run_writes_consistent_results(tmp_path):
  out = tmp_path / 'out'
  code = foundation.main([
      f'--output_dir={out}', '--num_train_steps=3', '--batch_size=8',
      '--num_eval_images=64', '--eval_batch_size=32', '--num_steps_per_level=1',
      '--hidden_channels=8'])
  assert code == 0
  res = json.loads((out / 'results.json').read_text())
  report = (out / 'report.md').read_text()
  for stage in ('untrained', 'trained'):
    for name in ('fashion_mnist', 'mnist'):
      r = res[stage]['per_dataset'][name]
      assert r['count'] == 64
      assert r['ci95'][0] <= r['mean'] <= r['ci95'][1]
      assert f"{r['mean']:.4f}" in report
    assert 0. <= res[stage]['ood_auroc_bits_per_dim'] <= 1.
  assert len(res['training']['losses']) == 3
  assert sorted(os.listdir(out)) == ['report.md', 'results.json']


def test_foundation_rejects_bad_arguments(capsys):
  with pytest.raises(SystemExit):
    foundation.main(['--num_eval_images=20000'])
  assert '--num_eval_images' in capsys.readouterr().err
