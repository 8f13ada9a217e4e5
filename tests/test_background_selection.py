"""bench/background_selection.py: its grid, its rule, and one tiny selection."""

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'bench'))
import background_selection as selection  # noqa: E402

TINY_CONFIG = os.path.join(REPO, 'gin_configs', 'tiny_pixelcnn.gin')


def test_grid_is_the_product_unless_pairs_are_given():
  assert selection.parse_grid('0.1,0.2', '0,1e-4', '') == [
      (0.1, 0.), (0.1, 1e-4), (0.2, 0.), (0.2, 1e-4)]
  assert selection.parse_grid('0.1', '0', '0.3:1e-5,0.2') == [
      (0.3, 1e-5), (0.2, 0.)]
  # 'none' trains nothing: only the extra backgrounds are scored.
  assert selection.parse_grid('0.1', '0', 'none') == []


def test_default_report_name_says_which_model():
  assert selection.default_output_name(
      'mnist', 'checkpoints/pixelcnn_mnist/') == 'background_selection_mnist'
  assert selection.default_output_name(
      'mnist', 'checkpoints/paper_glow_affine_mnist') == (
          'background_selection_paper_glow_affine_mnist')


def _result(mean, rate, l2):
  return dict(mean_auroc=mean, mutation_rate=rate, l2_weight=l2)


def test_rule_takes_the_best_mean_then_the_milder_setting():
  results = {'a': _result(0.7, 0.1, 0.), 'b': _result(0.8, 0.3, 0.),
             'c': _result(0.6, 0.2, 1e-4)}
  assert selection.choose(results) == 'b'
  results['d'] = _result(0.8, 0.2, 1e-4)
  results['e'] = _result(0.8, 0.2, 0.)
  assert selection.choose(results) == 'e'


def test_bad_rate_is_one_line_before_any_training(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    selection.main(['--dataset=fashion_mnist', f'--config={TINY_CONFIG}',
                    f'--model_dir={tmp_path}', '--grid=1.5:0',
                    f'--runs_dir={tmp_path / "runs"}',
                    f'--output_dir={tmp_path / "out"}'])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()[-1]
  assert 'mutation' in err and '1.5' in err
  assert not (tmp_path / 'runs').exists()
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_tiny_selection_trains_scores_and_reports(tmp_path):
  # The in-distribution model: a tiny run without mutation.
  model = selection.train_candidates(TINY_CONFIG, [(0., 0.)],
                                     str(tmp_path / 'model'), 6,
                                     'fashion_mnist', cores=1)
  (model_dir, _), = model.values()
  out = tmp_path / 'out'
  selection.main(['--dataset=fashion_mnist', f'--config={TINY_CONFIG}',
                  f'--model_dir={model_dir}', '--steps=6',
                  '--grid=0.1:0,0.3:1e-4', '--num_images=20', '--cores=1',
                  f'--runs_dir={tmp_path / "runs"}', f'--output_dir={out}'])
  # Not the data set's PixelCNN: the record is named after the model.
  record = 'background_selection_' + os.path.basename(model_dir)
  summary = json.loads((out / f'{record}.json').read_text())
  assert set(summary['candidates']) == {'fashion_mnist_mu0.1_l20',
                                        'fashion_mnist_mu0.3_l20.0001'}
  for name, r in summary['candidates'].items():
    # The settings are read back from each trained run, not from the grid.
    rate = 0.1 if 'mu0.1' in name else 0.3
    assert r['mutation_rate'] == pytest.approx(rate)
    for k in selection.SELECTION_SETS:
      a = r['auroc'][k]
      assert 0. <= a['low'] <= a['value'] <= a['high'] <= 1.
    assert r['mean_auroc'] == pytest.approx(
        (r['auroc']['vflip']['value'] + r['auroc']['inverted']['value']) / 2)
  assert summary['chosen'] == selection.choose(summary['candidates'])
  # No run evaluated the other real data set, not even in its logs.
  for name in summary['candidates']:
    config = (tmp_path / 'runs' / name / 'operative_config.gin').read_text()
    assert "train.ood_dataset = 'uniform_noise'" in config
  page = (out / f'{record}.md').read_text()
  assert '**(chosen)**' in page and page.count('\n| `fashion_mnist_mu') == 2
  assert 'mnist sample' not in page and 'AUROC vs mnist' not in page

  # The diagnosis: the same candidates (resumed, not retrained) and the
  # model itself as an extra "background", whose ratio is 0 for every image,
  # so its AUROC is exactly chance on every set, the real OoD set included.
  selection.main(['--dataset=fashion_mnist', f'--config={TINY_CONFIG}',
                  f'--model_dir={model_dir}', '--steps=6',
                  '--grid=0.1:0,0.3:1e-4', '--num_images=20', '--cores=1',
                  f'--runs_dir={tmp_path / "runs"}', f'--output_dir={out}',
                  '--diagnostic_dataset=mnist', '--output_name=diagnosis',
                  f'--extra_backgrounds={model_dir}'])
  diagnosis = json.loads((out / 'diagnosis.json').read_text())
  itself = diagnosis['candidates'][os.path.basename(model_dir)]
  for a in list(itself['auroc'].values()) + [itself['diagnostic_auroc']]:
    assert a['value'] == pytest.approx(0.5)
  assert itself['mutation_rate'] == 0.
  for name in summary['candidates']:
    # The rule's numbers do not change when the OoD set is read beside them.
    assert diagnosis['candidates'][name]['auroc'] == (
        summary['candidates'][name]['auroc'])
    assert 0. <= diagnosis['candidates'][name]['diagnostic_auroc'][
        'value'] <= 1.
  assert set(diagnosis['model_bits_per_dim']) == {'clean', 'vflip',
                                                  'inverted', 'mnist'}
  page = (out / 'diagnosis.md').read_text()
  assert page.startswith('# Likelihood-ratio diagnosis: fashion_mnist '
                         'against mnist')
  assert page.count('\n| `') == 3 and 'AUROC vs mnist' in page
  # The selection's own record is untouched.
  assert json.loads((out / f'{record}.json').read_text()) == summary

  # Extras only: nothing is trained, and the page does not say it was.
  selection.main(['--dataset=fashion_mnist', f'--config={TINY_CONFIG}',
                  f'--model_dir={model_dir}', '--grid=none',
                  '--num_images=20', '--cores=1',
                  f'--runs_dir={tmp_path / "no_runs"}', f'--output_dir={out}',
                  '--diagnostic_dataset=mnist', '--output_name=extras_only',
                  f'--extra_backgrounds={model_dir}'])
  extras_only = json.loads((out / 'extras_only.json').read_text())
  assert list(extras_only['candidates']) == [os.path.basename(model_dir)]
  assert extras_only['num_trained'] == 0
  assert not (tmp_path / 'no_runs' / 'fashion_mnist_mu0.1_l20').exists()
  page = (out / 'extras_only.md').read_text()
  assert 'no background trained here' in page
  assert 'backgrounds trained' not in page


@pytest.mark.parametrize('flags, words', [
    (['--diagnostic_dataset=mnist'], ['--output_name']),
    (['--diagnostic_dataset=fashion_mnist', '--output_name=x'],
     ['other data set']),
    (['--extra_backgrounds=/no/such/dir'], ['/no/such/dir', 'not exist']),
    (['--grid=none'], ['--grid=none', 'nothing to score']),
])
def test_bad_diagnosis_flags_are_one_line(tmp_path, capsys, flags, words):
  with pytest.raises(SystemExit) as exit_info:
    selection.main(['--dataset=fashion_mnist', f'--config={TINY_CONFIG}',
                    f'--model_dir={tmp_path}', '--grid=0.1:0',
                    f'--runs_dir={tmp_path / "runs"}',
                    f'--output_dir={tmp_path / "out"}'] + flags)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()[-1]
  assert all(w in err for w in words), err
  assert not (tmp_path / 'runs').exists()
