"""The OoD study job (tfp_flows.experiments.ood_study) on tiny trained models."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tiny_runs
from tfp_flows.experiments import ood_study
from tfp_flows.ood import guidance
from tfp_flows.ood import metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITS = ('translate_dx-1_dy0_zeros', 'discrete_noise_k1_all',
        'noise_normal_eps0.001_all_edge', 'zero_latents_k1_quantised')


def _glow3():
  return tiny_runs.tiny_glow(num_levels=3, pad_to=32)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('ood_runs')
  out = {}
  for name, model_fn, dataset, extra in (
      ('glow', _glow3, 'fashion_mnist', {}),
      ('pixelcnn', tiny_runs.tiny_pixelcnn, 'fashion_mnist', {}),
      ('background', tiny_runs.tiny_pixelcnn, 'fashion_mnist',
       dict(mutation_rate=0.2, l2_weight=1e-4)),
      ('mnist_pixelcnn', tiny_runs.tiny_pixelcnn, 'mnist', {})):
    tiny_runs.train_tiny(root / name, model_fn, dataset=dataset, num_steps=3,
                         **extra)
    out[name] = str(root / name)
  return out


@pytest.fixture(scope='module')
def pixelcnn_result(runs):
  entry = ood_study.ModelEntry(runs['pixelcnn'], runs['background'],
                               runs['glow'])
  return ood_study.evaluate_model(entry, num_images=20, sits=SITS,
                                  num_resamples=50, log=lambda _: None,
                                  num_entropy_images=20)


def test_every_score_set_and_sit_is_reported(pixelcnn_result):
  r = pixelcnn_result
  assert r['dataset'] == 'fashion_mnist' and r['real_ood'] == 'mnist'
  assert r['scores'] == [
      'likelihood', 'input_complexity_png', 'input_complexity_zlib',
      'likelihood_ratio', 'typicality_m1', 'typicality_m2', 'typicality_m5',
      'typicality_m10']
  sets = {'mnist', 'constant', 'uniform_noise', 'fashion_mnist_inverted',
          'fashion_mnist_vflip'}
  for score in r['scores']:
    assert set(r['detection'][score]) == sets
    for row in r['detection'][score].values():
      auroc = row['auroc']
      assert auroc['low'] <= auroc['value'] <= auroc['high']
  # Zeroing latents ran on the given Glow: every SIT applies.
  assert list(r['robustness']) == list(SITS) and not r['skipped_sits']
  flips = r['robustness']['discrete_noise_k1_all']['likelihood']['flips']
  assert flips['flip_fraction'] == pytest.approx(
      flips['in_to_out'] + flips['out_to_in'])
  ood_flips = r['robustness']['discrete_noise_k1_all']['likelihood'][
      'ood_flips']
  assert ood_flips['flip_fraction'] == pytest.approx(
      ood_flips['in_to_out'] + ood_flips['out_to_in'])


def test_scores_are_built_from_the_measured_quantities(runs):
  # The likelihood ratio's AUROC against MNIST equals the AUROC computed
  # here from the two models' bits/dim of the same sampled images.
  from tfp_flows import data, models
  from tfp_flows.analysis import sampling
  from tfp_flows.models import evaluation
  result = ood_study.evaluate_model(
      ood_study.ModelEntry(runs['pixelcnn'], runs['background']),
      num_images=20, sits=(), scores=['likelihood_ratio'], num_resamples=20,
      log=lambda _: None, num_entropy_images=20)
  model, background = models.load(runs['pixelcnn']), models.load(
      runs['background'])

  def ratio(name):
    images, labels = data.load(name, 'test')
    sample = images[sampling.stratified_indices(labels, 20, 0)]
    return (evaluation.evaluate_bits_per_dim(model, sample, 256, 0)
            - evaluation.evaluate_bits_per_dim(background, sample, 256, 0))
  expected = metrics.auroc(ratio('fashion_mnist'), ratio('mnist'))
  assert result['detection']['likelihood_ratio']['mnist']['auroc'][
      'value'] == pytest.approx(expected)


def test_glow_gets_level_scores_and_runs_its_own_zeroing(runs, tmp_path):
  results = ood_study.run(
      [ood_study.ModelEntry(runs['glow'])], str(tmp_path), num_images=20,
      sits=('zero_latents_k2_quantised', 'noise_normal_eps0.001_all_edge'),
      num_resamples=20, log=lambda _: None, num_entropy_images=20)
  (r,) = results['models']
  assert {'level_1', 'level_2', 'level_3',
          'coarsest_minus_finest'} <= set(r['scores'])
  assert 'likelihood_ratio' not in r['scores']
  assert set(r['robustness']) == {'zero_latents_k2_quantised',
                                  'noise_normal_eps0.001_all_edge'}
  with open(tmp_path / 'ood_results.json') as f:
    saved = json.load(f)
  assert saved['models'][0]['dataset'] == 'fashion_mnist'
  page = (tmp_path / 'OOD.md').read_text()
  # The saved numbers re-render the same page, tables in the same order.
  assert ood_study.report(saved) == page
  assert '| coarsest_minus_finest | zero_latents_k2_quantised |' in page
  # The practitioner's section comes first, built from the same results.
  assert page.index('## Which score to use') < page.index('## Tables')
  assert f'Recommended: `{guidance.recommended(r)["score"]}`' in page


def test_zeroing_without_a_glow_is_skipped_and_listed(runs):
  r = ood_study.evaluate_model(
      ood_study.ModelEntry(runs['pixelcnn']), num_images=10,
      sits=('zero_latents_k1_quantised',), scores=['likelihood'],
      num_resamples=10, log=lambda _: None, num_entropy_images=10)
  assert r['skipped_sits'] == ['zero_latents_k1_quantised']
  assert r['robustness'] == {}


def test_bad_input_is_one_clear_error(runs):
  with pytest.raises(ValueError, match='Unknown OoD score.*likelyhood'):
    ood_study.check_scores(['likelyhood'])
  with pytest.raises(ValueError, match='likelihood_ratio do not apply'):
    ood_study.evaluate_model(ood_study.ModelEntry(runs['pixelcnn']),
                             num_images=10, sits=(),
                             scores=['likelihood_ratio'], log=lambda _: None)
  with pytest.raises(ValueError, match='is a PixelCNN, not a Glow'):
    ood_study.evaluate_model(
        ood_study.ModelEntry(runs['pixelcnn'], None, runs['mnist_pixelcnn']),
        num_images=10, sits=(), log=lambda _: None)
  with pytest.raises(ValueError, match='trained on mnist, the model .* on '
                     'fashion_mnist'):
    ood_study.evaluate_model(
        ood_study.ModelEntry(runs['pixelcnn'], runs['mnist_pixelcnn']),
        num_images=10, sits=(), log=lambda _: None)


@pytest.mark.slow
def test_command_line_errors_are_one_line(runs, tmp_path):
  for args, message in (
      ([f'--model={runs["pixelcnn"]}', '--scores=likelyhood'],
       'Unknown OoD score(s) likelyhood'),
      ([f'--model={runs["pixelcnn"]}:{tmp_path}/none'],
       'does not exist'),
      ([f'--model={runs["pixelcnn"]}', '--sits=translate_sideways'],
       'translate_sideways')):
    proc = subprocess.run(
        [sys.executable, '-m', 'tfp_flows.experiments.ood_study', *args,
         f'--output_dir={tmp_path}/out'], cwd=REPO, capture_output=True,
        text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines()
             if l.startswith('bin/evaluate_ood')]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not os.path.exists(tmp_path / 'out' / 'ood_results.json')


def test_glow_bits_per_dim_from_its_levels_is_its_likelihood(runs):
  # The study scores a Glow once, level by level; the likelihood it derives
  # must be the model's own bits/dim (same dequantisation seeds).
  from tfp_flows import models
  from tfp_flows.models import evaluation
  glow = models.load(runs['glow'])
  images = tiny_runs.first_images(12)
  measured = ood_study._measure(glow, None, images, 'discrete', 3, 5)  # pylint: disable=protected-access
  expected = evaluation.evaluate_bits_per_dim(glow, images, 5, 3)
  assert measured['level_bpd'].shape == (12, 3)
  assert measured['bpd'] == pytest.approx(expected, abs=1e-4)


def test_continuous_levels_sum_to_the_continuous_bits_per_dim(runs):
  from tfp_flows import models
  from tfp_flows.analysis import scoring
  from tfp_flows.models import glow_levels
  from tfp_flows.ood import levels
  from tfp_flows.sits import presets
  glow = models.load(runs['glow'])
  noisy = presets.get('noise_normal_eps0.001_all_edge')(
      tiny_runs.first_images(10))
  level_bpd = levels.continuous_level_bits_per_dim(glow, noisy, batch_size=4)
  dims = glow_levels.level_dimensions(glow)
  expected = scoring.continuous_bits_per_dim(glow, noisy, batch_size=4)[0]
  assert level_bpd @ dims / glow.num_subpixels == pytest.approx(expected,
                                                                abs=1e-4)


def test_images_a_sit_failed_on_leave_their_batches_out():
  valid = np.ones(20, bool)
  valid[3] = False
  np.testing.assert_array_equal(
      ood_study._valid_units('likelihood', valid, 0), valid)  # pylint: disable=protected-access
  from tfp_flows.ood import typicality
  batches = typicality.typicality_batches(20, 5, 0)
  kept = ood_study._valid_units('typicality_m5', valid, 0)  # pylint: disable=protected-access
  np.testing.assert_array_equal(kept, ~np.any(batches == 3, axis=1))
  assert kept.sum() == 3


def test_compressors_see_the_clean_levels_under_sub_level_noise():
  # The paper's noise (eps 0.001 on the [0, 1] scale: 0.256 n grey levels)
  # moves the level the compressors see only where it exceeds half a level
  # (|n| > 1.95, ~5% of subpixels), at either placement; taking the bin
  # instead (floor) would move about half the subpixels at the bin edge.
  from tfp_flows import sits  # pylint: disable=g-import-not-at-top
  x = tiny_runs.first_images(4, 'fashion_mnist')
  for placement in ('edge', 'centre'):
    sit = sits.presets.get(f'noise_normal_eps0.001_all_{placement}')
    y = sit(x, seed=0)
    moved = sits.base.from_continuous(y, sit.offset) - x
    # pylint: disable=protected-access
    seen = ood_study._quantised(y, sit.offset).astype(int)
    small = np.abs(moved) < 0.5
    np.testing.assert_array_equal(seen[small], x[small])
    np.testing.assert_array_equal(
        seen, np.clip(x + np.rint(moved), 0, 255).astype(int))
    assert small.mean() > 0.9
  # Other SITs keep the bin centre; a composition takes its last member's.
  shift = sits.presets.get('translate_dx-1_dy0_zeros')
  edge = sits.presets.get('noise_normal_eps0.001_all_edge')
  assert shift.offset == sits.CONTINUOUS_OFFSET
  assert sits.Compose([shift, edge]).offset == edge.offset == 0.


def test_a_sit_that_transforms_no_ood_image_gives_na_not_an_error():
  # A Glow's decoder can overflow on every zeroed latent of the other data
  # set: the OoD-side numbers are None, the in-distribution side stands.
  rng = np.random.default_rng(0)
  clean_in, moved_in = rng.normal(size=50), rng.normal(size=50) + 0.1
  ood_clean = rng.normal(size=40) + 2.
  threshold = metrics.keep_threshold(clean_in, 0.95)
  # pylint: disable=protected-access
  row = ood_study._robustness_row(threshold, clean_in, moved_in, ood_clean,
                                  ood_clean[:0], ood_clean[:0], 20, 0)
  assert row['ood_flips'] is None and row['auroc_both_moved'] is None
  assert row['auroc_in_moved']['value'] == pytest.approx(
      metrics.auroc(moved_in, ood_clean))
  assert row['flips']['flip_fraction'] == metrics.flips_at(
      clean_in, moved_in, threshold).flip_fraction
  assert ood_study._flips(None).startswith('n/a')
  assert guidance.format_interval(None) == 'n/a'
  # ... and the in-distribution side may be empty as well.
  row = ood_study._robustness_row(threshold, clean_in[:0], moved_in[:0],
                                  ood_clean, ood_clean, ood_clean, 20, 0)
  assert row['flips'] is None and row['auroc_in_moved'] is None
  assert row['auroc_both_moved'] is None and row['ood_flips'] is not None
  interval = dict(value=0.9, low=0.85, high=0.95)
  result = dict(real_ood='mnist',
                detection={'likelihood': {'mnist': dict(
                    auroc=interval, fpr_at_tpr=interval)}},
                robustness={'zero_latents_k1_quantised': {'likelihood': row}})
  summary = guidance.score_summary(result, 'likelihood')
  assert summary['worst_in'] is None and summary['worst_both'] is None
  assert summary['worst_case'] == 0.9


def test_report_names_repository_paths_relative_to_it(tmp_path):
  inside = os.path.join(ood_study._REPO, 'checkpoints', 'pixelcnn_mnist')  # pylint: disable=protected-access
  assert ood_study.shown_path(inside) == os.path.join('checkpoints',
                                                      'pixelcnn_mnist')
  assert ood_study.shown_path(str(tmp_path)) == str(tmp_path)
  assert ood_study.shown_path(None) is None
