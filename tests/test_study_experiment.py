"""bin/reproduce's job (tfp_flows.experiments.study) on the shipped checkpoints."""

import os
import shutil
import subprocess
import sys

import pytest

from tfp_flows.analysis import claims
from tfp_flows.experiments import shipped_models
from tfp_flows.experiments import shipping
from tfp_flows.experiments import study

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINTS = os.path.join(REPO, shipped_models.CHECKPOINTS_DIR)


def _reproduce(*args):
  cmd = [sys.executable, '-m', 'tfp_flows.experiments.study', *args]
  return subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                        cwd=REPO)


def _present():
  return [m.name for m in shipped_models.DENSITY_MODELS
          if os.path.isdir(os.path.join(CHECKPOINTS, m.name))]


@pytest.mark.slow
def test_quick_reproduction_writes_every_claim_row(tmp_path):
  assert _present(), 'no shipped density checkpoint in checkpoints/'
  out = tmp_path / 'out'
  result = _reproduce('--quick', '--allow_missing', f'--output_dir={out}')
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  page = (out / 'REPRODUCTION.md').read_text()
  assert f'Page: {out / "REPRODUCTION.md"}' in result.stdout
  # Every claim of the paper has its row, with a computed verdict.
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tfp_flows.analysis import per_image  # pylint: disable=g-import-not-at-top
  table = per_image.read_csv(str(out / 'per_image.csv'))
  roles = {m.name: (m.family, m.dataset)
           for m in shipped_models.DENSITY_MODELS if m.name in _present()}
  expected = claims.evaluate_claims(table, roles)
  assert len(expected) == 12
  for i, claim in enumerate(expected, 1):
    assert f'| {i} | {claim.section} | {claim.statement} |' in page
  # Table 1, both data sets, every row.
  for perturbation, *_ in claims.TABLE1:
    assert page.count(f'| {perturbation} |') == 2, perturbation
  assert f'{study.QUICK_NUM_IMAGES} test images per data set' in page
  # Only the two real test sets, QUICK_NUM_IMAGES each, per model.
  assert set(table['dataset']) <= {'mnist', 'fashion_mnist'}
  assert np.isfinite(table['bpd_before']).all()
  # The figures the page shows exist beside it.
  for line in page.splitlines():
    if line.startswith('!['):
      path = line.split('](')[1].rstrip(')')
      assert (out / path).exists(), path


@pytest.mark.slow
def test_missing_checkpoint_is_one_line_naming_it(tmp_path):
  empty = tmp_path / 'checkpoints'
  empty.mkdir()
  result = _reproduce('--quick', f'--checkpoints_dir={empty}',
                      f'--output_dir={tmp_path / "out"}')
  assert result.returncode == 2
  lines = [l for l in result.stderr.splitlines() if 'bin/reproduce' in l]
  assert len(lines) == 1
  assert f'{empty} lacks ' in lines[0]
  for name in shipped_models.SHIPPED:
    assert name in lines[0]
  assert 'Traceback' not in result.stderr


def test_damaged_checkpoint_is_named(tmp_path):
  present = _present()
  assert present, 'no shipped density checkpoint in checkpoints/'
  root = tmp_path / 'checkpoints'
  shutil.copytree(os.path.join(CHECKPOINTS, present[0]), root / present[0])
  data = [p for p in (root / present[0]).iterdir() if '.data-' in p.name][0]
  data.write_bytes(data.read_bytes()[:1000])
  with pytest.raises(study.ReproduceError,
                     match=rf'{present[0]}/ckpt-\d+ is damaged'):
    study.check_checkpoints(str(root), allow_missing=True)
  (root / present[0] / 'operative_config.gin').unlink()
  with pytest.raises(study.ReproduceError,
                     match='operative_config.gin is missing'):
    study.check_checkpoints(str(root), allow_missing=True)


@pytest.mark.slow
def test_retrain_trains_from_the_config_and_ships(tmp_path, monkeypatch):
  # The registry cut down to one tiny config, so the real code path (bin/train
  # from a committed config, then shipping with a card) runs in a minute.
  tiny = shipped_models.ShippedModel('tiny_glow3', 'tiny_glow3', 'glow_affine',
                                     'fashion_mnist', 9.0, 'none')
  monkeypatch.setattr(shipped_models, 'DENSITY_MODELS', (tiny,))
  monkeypatch.setattr(shipped_models, 'CLASSIFIERS', ())
  args = study._parse_args(['--quick', '--retrain',
                            f'--runs_dir={tmp_path / "runs"}',
                            f'--checkpoints_dir={tmp_path / "none"}',
                            f'--output_dir={tmp_path / "out"}'])
  out_root = study._retrain(args)  # pylint: disable=protected-access
  assert out_root == str(tmp_path / 'runs' / 'checkpoints')
  card = shipping.read_card(os.path.join(out_root, 'tiny_glow3'))
  assert card['steps'] == 30 and card['config'] == 'tiny_glow3'
  assert card['goal'] == 9.0
  density, _, missing = study.check_checkpoints(
      out_root, required={'tiny_glow3'})
  assert [m.name for m, _ in density] == ['tiny_glow3'] and not missing
