"""The SIT study end to end on a tiny trained Glow: outputs, statistics, cache."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfp_flows import analysis
from tfp_flows import data
from tfp_flows import sits
from tfp_flows.analysis import entry
from tfp_flows.analysis import paper_figures
from tfp_flows.analysis import per_image
from tfp_flows.analysis import sampling
from tfp_flows.analysis import scoring
from tfp_flows.analysis import study_summary
from tfp_flows.models import evaluation
from tfp_flows.models import Glow
from tfp_flows.sits import zero_latents

import tiny_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_IMAGES = 40


def _trained_dir(model_dir, model_fn, num_steps=20):
  """A tiny run of `model_fn` on Fashion-MNIST, with its operative config."""
  tiny_runs.train_tiny(model_dir, model_fn, num_steps=num_steps,
                       num_eval_images=32,
                       operative_config=tiny_runs.operative_config(
                           model_fn(), 'fashion_mnist'))
  return str(model_dir)


@pytest.fixture(scope='module')
def glow_dir(tmp_path_factory):
  return _trained_dir(tmp_path_factory.mktemp('tiny_glow'),
                      tiny_runs.tiny_glow)


@pytest.fixture(scope='module')
def glow3_dir(tmp_path_factory):
  # 3 levels on 28x28 padded to 32x32: the depth zero <= 2 needs.
  return _trained_dir(tmp_path_factory.mktemp('tiny_glow3'),
                      lambda: tiny_runs.tiny_glow(num_levels=3, pad_to=32))


@pytest.fixture(scope='module')
def pixelcnn_dir(tmp_path_factory):
  return _trained_dir(tmp_path_factory.mktemp('tiny_pixelcnn'),
                      lambda: tiny_runs.tiny_pixelcnn(dropout_p=0.5),
                      num_steps=2)


def _small_sits():
  return [sits.Translate(-1, 0, 'zeros'), sits.DiscreteNoise(2),
          sits.ContinuousNoise(0.001, 'normal', 'background'),
          sits.ZeroLatents(1, 'continuous'), sits.ZeroLatents(1, 'quantised')]


@pytest.fixture(scope='module')
def study(glow_dir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp('study'))
  summary = entry.analyze_sits(
      [glow_dir], out, num_images=NUM_IMAGES, sits=_small_sits(),
      datasets=['mnist', 'constant'], num_bootstrap=300, verbose=False)
  return out, summary


def test_outputs_exist_and_have_every_row(study):
  out, summary = study
  for name in ('per_image.csv', 'summary.json', 'report.md'):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  table = per_image.read_csv(os.path.join(out, 'per_image.csv'))
  # 3 data sets x 5 SITs x NUM_IMAGES rows, all finite.
  assert len(table['bpd_after']) == 3 * 5 * NUM_IMAGES
  assert np.isfinite(table['bpd_before']).all()
  assert np.isfinite(table['bpd_after']).all()
  assert set(table['role']) == {'in', 'ood'}
  assert summary['config']['models']
  for fig in summary['figures'].values():
    assert os.path.getsize(os.path.join(out, fig)) > 1000, fig
  assert os.listdir(os.path.join(out, 'tensorboard'))
  report = open(os.path.join(out, 'report.md')).read()
  assert 'translate_dx-1_dy0_zeros' in report and 'AUROC' in report


def test_summary_agrees_with_statistics_recomputed_from_the_csv(study):
  out, _ = study
  with open(os.path.join(out, 'summary.json')) as f:
    summary = json.load(f)
  table = per_image.read_csv(os.path.join(out, 'per_image.csv'))
  for r in summary['results']:
    rows = ((table['model'] == r['model']) &
            (table['dataset'] == r['dataset']) & (table['sit'] == r['sit']))
    before, after = table['bpd_before'][rows], table['bpd_after'][rows]
    delta = after - before
    assert r['count'] == rows.sum() == NUM_IMAGES
    # The CSV keeps 6 decimals.
    assert r['bpd_before']['mean'] == pytest.approx(before.mean(), abs=1e-5)
    assert r['bpd_after']['median'] == pytest.approx(np.median(after),
                                                     abs=1e-5)
    assert r['delta']['mean'] == pytest.approx(delta.mean(), abs=1e-5)
    assert r['delta']['ci95'][0] <= delta.mean() <= r['delta']['ci95'][1]
    assert r['frac_likelihood_up'] == pytest.approx(np.mean(delta < 0))
    assert r['pixel_change']['mean_abs'] == pytest.approx(
        table['pixel_change'][rows].mean(), abs=1e-5)
    for label, pc in r['per_class'].items():
      sel = rows & (table['label'] == int(label))
      assert pc['count'] == sel.sum()
      assert pc['delta'] == pytest.approx(
          (table['bpd_after'][sel] - table['bpd_before'][sel]).mean(),
          abs=1e-5)
  for o in summary['ood']:
    in_rows = ((table['dataset'] == o['in_dataset']) &
               (table['sit'] == o['sit']))
    ood_rows = ((table['dataset'] == o['ood_dataset']) &
                (table['sit'] == o['sit']))
    assert o['auroc_clean'] == pytest.approx(analysis.auroc(
        table['bpd_before'][in_rows], table['bpd_before'][ood_rows]),
                                             abs=1e-3)
    assert o['auroc_in_transformed'] == pytest.approx(analysis.auroc(
        table['bpd_after'][in_rows], table['bpd_before'][ood_rows]),
                                                      abs=1e-3)
  # And the whole summary is a function of the table.
  again = study_summary.summarize_table(table, num_bootstrap=300, seed=0)
  assert [r['sit'] for r in again['results']] == [
      r['sit'] for r in summary['results']]


def test_discrete_rows_share_the_clean_likelihood_and_identities_hold(study):
  out, _ = study
  table = per_image.read_csv(os.path.join(out, 'per_image.csv'))
  fm = table['dataset'] == 'fashion_mnist'
  translate = fm & (table['sit'] == 'translate_dx-1_dy0_zeros')
  noise = fm & (table['sit'] == 'discrete_noise_k2_all')
  np.testing.assert_array_equal(table['bpd_before'][translate],
                                table['bpd_before'][noise])
  assert (table['pixel_change'][translate] > 0).any()
  # The sample is the seeded, class-stratified one, in data set order.
  from tfp_flows import data  # pylint: disable=g-import-not-at-top
  _, labels = data.load('fashion_mnist', 'test')
  expected = sampling.stratified_indices(labels, NUM_IMAGES, seed=0)
  np.testing.assert_array_equal(table['index'][translate], expected)
  np.testing.assert_array_equal(table['label'][translate], labels[expected])


def test_rerun_reuses_the_cache(study, glow_dir, monkeypatch):
  out, summary = study
  calls = []
  original = evaluation.evaluate_bits_per_dim
  monkeypatch.setattr('tfp_flows.models.evaluation.evaluate_bits_per_dim',
                      lambda *a, **k: calls.append(1) or original(*a, **k))
  again = entry.analyze_sits(
      [glow_dir], out, num_images=NUM_IMAGES, sits=_small_sits(),
      datasets=['mnist', 'constant'], num_bootstrap=300, verbose=False,
      write_figures=False, write_tensorboard=False)
  assert not calls
  assert again['results'] == summary['results']


@pytest.mark.slow
def test_zero_latents_on_pixelcnn_only_is_a_clear_error(pixelcnn_dir, tmp_path):
  with pytest.raises(ValueError, match='needs a multi-scale Glow'):
    entry.analyze_sits([pixelcnn_dir], str(tmp_path),
                       sits=[sits.ZeroLatents(1)], num_images=8,
                       verbose=False)


@pytest.mark.slow
def test_pixelcnn_study_skips_zero_latents_by_default(pixelcnn_dir, tmp_path):
  summary = entry.analyze_sits(
      [pixelcnn_dir], str(tmp_path), num_images=8, datasets=['mnist'],
      sits=None, num_bootstrap=100, verbose=False, write_figures=False,
      write_tensorboard=False)
  assert not any(r['sit'].startswith('zero_latents')
                 for r in summary['results'])
  assert any(r['evaluation'] == 'continuous' for r in summary['results'])
  assert summary['config']['skipped_sits_for_some_models']
  # Every continuous SIT is scored twice: by the normalised density and by
  # the score whose network sees the noisy values.
  continuous = {r['sit'] for r in summary['results']
                if r['evaluation'] == 'continuous'}
  conditioned = {r['sit'] for r in summary['results']
                 if r['evaluation'] == 'conditioned'}
  assert continuous == conditioned and len(continuous) == 12
  ood = {(o['sit'], o['evaluation']) for o in summary['ood']}
  assert ('noise_normal_eps0.001_all_edge', 'conditioned') in ood
  table = per_image.read_csv(str(tmp_path / 'per_image.csv'))
  # At the bin edge the clean point is x / 256, where the conditioned score
  # is the discrete likelihood.
  edge = table['sit'] == 'noise_normal_eps0.001_all_edge'
  disc = table['sit'] == 'discrete_noise_k1_all'
  for dataset in ('fashion_mnist', 'mnist'):
    sel = table['dataset'] == dataset
    np.testing.assert_allclose(
        table['bpd_before'][edge & sel & (table['evaluation'] ==
                                          'conditioned')],
        table['bpd_before'][disc & sel], rtol=0, atol=1e-5)
  # Negative noise on black pixels is scored as level 0 (clipped), never NaN.
  assert np.isfinite(table['bpd_after']).all()
  cond_edge = edge & (table['evaluation'] == 'conditioned')
  assert (table['clipped_fraction'][cond_edge] > 0).any()


@pytest.mark.slow
def test_paper_presets_on_a_3_level_glow_and_a_pixelcnn(glow3_dir,
                                                        pixelcnn_dir,
                                                        tmp_path):
  summary = entry.analyze_sits(
      [glow3_dir, pixelcnn_dir], str(tmp_path), num_images=20,
      datasets=['mnist'], sits='paper', num_bootstrap=100, verbose=False,
      write_tensorboard=False)
  glow_name, pixelcnn_name = list(summary['config']['models'])
  by_model = {}
  for r in summary['results']:
    by_model.setdefault(r['model'], set()).add((r['sit'], r['evaluation']))
  # Both zeroings on the 3-level Glow; the PixelCNN skips them and scores
  # each bin-edge noise twice.
  assert {('zero_latents_k1_continuous', 'continuous'),
          ('zero_latents_k2_continuous', 'continuous'),
          ('zero_latents_k2_quantised', 'discrete')} <= by_model[glow_name]
  assert len(by_model[glow_name]) == 12
  assert not any(s.startswith('zero') for s, _ in by_model[pixelcnn_name])
  assert len(by_model[pixelcnn_name]) == 2 + 6 * 2
  for name in ('paper_fig1_translation', 'paper_fig4_zero_latents',
               f'paper_fig5_{glow_name}'):
    assert os.path.getsize(tmp_path / summary['figures'][name]) > 5000, name
  assert f'paper_fig5_{pixelcnn_name}' not in summary['figures']
  # Both bits/dim definitions: D = 784 and the padded D' = 1024.
  glow_config = summary['config']['models'][glow_name]
  assert (glow_config['num_subpixels'], glow_config['num_model_subpixels']) == (
      784, 1024)
  report = (tmp_path / 'report.md').read_text()
  clean = next(c for c in summary['clean'] if c['model'] == glow_name)
  assert f'{clean["bpd"]["mean"] * 784 / 1024:.3f} [' in report


def test_paper_figure_class_means_against_numpy():
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(3), 20)
  bpd = rng.normal(labels.astype(float), 0.1)
  bpd[0] = np.nan   # a failed image is left out
  classes, means, lows, highs = paper_figures.class_means(bpd, labels,
                                                          num_resamples=200)
  np.testing.assert_array_equal(classes, [0, 1, 2])
  np.testing.assert_allclose(means, [np.nanmean(bpd[labels == c])
                                     for c in range(3)])
  assert np.all(lows < means) and np.all(means < highs)


def test_zero_latents_k2_needs_three_levels(glow_dir, tmp_path):
  with pytest.raises(ValueError, match=r'k < L.*with L = 2 levels'):
    entry.analyze_sits([glow_dir], str(tmp_path),
                       sits=[sits.ZeroLatents(2)], num_images=8,
                       verbose=False)


def test_bad_inputs_are_clear_errors(glow_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    entry.analyze_sits([str(tmp_path / 'nope')], str(tmp_path / 'o'),
                       verbose=False)
  with pytest.raises(ValueError, match='unknown dataset'):
    entry.analyze_sits([glow_dir], str(tmp_path / 'o'), datasets=['svhn'],
                       num_images=4, verbose=False)
  with pytest.raises(ValueError, match='num_images'):
    entry.analyze_sits([glow_dir], str(tmp_path / 'o'), num_images=20000,
                       sits=[sits.Translate()], verbose=False)


@pytest.mark.slow
def test_cli_errors_are_one_line(glow_dir, tmp_path):
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--model_dir={glow_dir}', f'--output_dir={tmp_path}',
         '--gin_param=analyze_sits.sits = [@Translate()]',
         '--gin_param=Translate.fill = "mirror"']
  result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr
  assert 'analyze_sits: error:' in result.stderr and 'fill' in result.stderr
  assert 'Traceback' not in result.stderr
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--model_dir={glow_dir}', f'--output_dir={tmp_path}',
         '--sits=noise_normal_eps0.001_all']
  result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert 'analyze_sits: error: --sits:' in result.stderr
  assert 'not the name of a SIT' in result.stderr
  assert 'Traceback' not in result.stderr
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--model_dir={tmp_path / "missing"}', f'--output_dir={tmp_path}']
  result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert 'does not exist' in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.parametrize('num_images', [10, 37, 100])
def test_stratified_sample_keeps_class_shares(num_images):
  labels = np.repeat(np.arange(10), [50, 50, 50, 50, 50, 100, 100, 20, 20, 10])
  idx = sampling.stratified_indices(labels, num_images, seed=3)
  assert len(idx) == len(set(idx)) == num_images
  counts = np.bincount(labels[idx], minlength=10)
  expected = np.bincount(labels, minlength=10) * num_images / len(labels)
  assert np.all(np.abs(counts - expected) < 1)
  np.testing.assert_array_equal(
      idx, sampling.stratified_indices(labels, num_images, seed=3))
  assert not np.array_equal(
      idx, sampling.stratified_indices(labels, num_images, seed=4))


class _FailsOnSomeImages(sits.SIT):
  """A continuous SIT that cannot transform images at even positions."""

  @property
  def name(self):
    return 'fails_on_even'

  @property
  def kind(self):
    return 'continuous'

  def config(self):
    return dict(type='FailsOnSomeImages')

  def _apply(self, images, seed, indices, model, batch_size):
    out = sits.to_continuous(images)
    out[::2] = np.inf
    return out


def test_failed_images_are_reported_not_scored(glow_dir, tmp_path):
  summary = entry.analyze_sits(
      [glow_dir], str(tmp_path), num_images=10, datasets=['mnist'],
      sits=[_FailsOnSomeImages(), sits.Translate()], num_bootstrap=100,
      verbose=False, write_figures=False)
  table = per_image.read_csv(str(tmp_path / 'per_image.csv'))
  rows = table['sit'] == 'fails_on_even'
  assert np.isnan(table['bpd_after'][rows]).sum() == 10  # 5 per data set
  assert np.isfinite(table['bpd_before'][rows]).all()
  failing = [r for r in summary['results'] if r['sit'] == 'fails_on_even']
  assert [r['num_failed'] for r in failing] == [5, 5]
  assert all(r['count'] == 5 for r in failing)
  assert all(np.isfinite(r['delta']['mean']) for r in failing)
  assert '(5 failed)' in (tmp_path / 'report.md').read_text()


def test_zero_latents_reuse_the_clean_scoring_latents(glow_dir, tmp_path,
                                                      monkeypatch):
  # The clean continuous scoring already maps every bin centre to its
  # latents; ZeroLatents takes them instead of encoding the images again.
  encodes = []
  original = Glow.encode
  monkeypatch.setattr(Glow, 'encode', lambda self, *a, **k: encodes.append(
      1) or original(self, *a, **k))
  sit = sits.ZeroLatents(1, 'continuous')
  entry.analyze_sits([glow_dir], str(tmp_path), num_images=16, sits=[sit],
                     datasets=['mnist'], num_bootstrap=50, verbose=False,
                     write_figures=False, write_tensorboard=False)
  assert not encodes
  # Same numbers as ZeroLatents encoding the images itself.
  table = per_image.read_csv(os.path.join(str(tmp_path), 'per_image.csv'))
  model = entry.load_study_models([glow_dir])[0].model
  for dataset in ('fashion_mnist', 'mnist'):
    rows = (table['dataset'] == dataset) & (table['sit'] == sit.name)
    assert rows.sum() == 16
    images, _ = data.load(dataset, 'test')
    images = images[table['index'][rows].astype(int)]
    zero_latents._last_decode.clear()  # pylint: disable=protected-access
    out, _ = sit.transform(images, model=model)
    bpd, _ = scoring.continuous_bits_per_dim(model, out)
    np.testing.assert_allclose(table['bpd_after'][rows], bpd, rtol=1e-5)
  assert encodes
