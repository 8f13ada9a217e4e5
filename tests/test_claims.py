"""The paper's claims and their computed verdicts (analysis/claims.py, reproduction_page.py)."""

import numpy as np
import pytest

from tfp_flows.analysis import claims
from tfp_flows.analysis import per_image
from tfp_flows.analysis import reproduction_page

N = 200  # images per data set
ROLES = {'glow_a_mnist': ('glow_affine', 'mnist'),
         'glow_a_fm': ('glow_affine', 'fashion_mnist'),
         'pix_mnist': ('pixelcnn', 'mnist'),
         'pix_fm': ('pixelcnn', 'fashion_mnist')}


def _block(model, dataset, sit, evaluation, before, after, labels,
           pred_before=None, pred_after=None):
  n = len(before)
  return dict(
      model=np.array([model] * n, object), dataset=np.array([dataset] * n,
                                                            object),
      role=np.array(['in'] * n, object), split=np.array(['test'] * n, object),
      index=np.arange(n), label=labels, sit=np.array([sit] * n, object),
      evaluation=np.array([evaluation] * n, object),
      bpd_before=before, bpd_after=after,
      classifier_pred_before=(np.full(n, -1) if pred_before is None
                              else pred_before),
      classifier_pred_after=(np.full(n, -1) if pred_after is None
                             else pred_after),
      confidence_before=np.full(n, np.nan), confidence_after=np.full(n, np.nan),
      pixel_change=np.zeros(n), psnr=np.zeros(n),
      clipped_fraction=np.zeros(n))


def _table(effects, labels=None, seed=0):
  """`effects`: {(model, dataset, sit, evaluation): mean delta}."""
  rng = np.random.default_rng(seed)
  labels = np.arange(N) % 10 if labels is None else labels
  before = {d: 2. + labels * 0.1 + rng.normal(0, 0.05, N)
            for d in ('mnist', 'fashion_mnist')}
  blocks = []
  for (model, dataset, sit, evaluation), mean in effects.items():
    after = before[dataset] + mean + rng.normal(0, 0.01, N)
    blocks.append(_block(model, dataset, sit, evaluation, before[dataset],
                         after, labels))
  return per_image.concatenate(blocks)


def _claim(result, key):
  return next(c for c in result if c.key == key)


def test_verdict_rules():
  # pylint: disable=protected-access
  assert claims._effect_verdict(0.5, (0.4, 0.6), 0.3, +1) == claims.AGREES
  assert claims._effect_verdict(0.1, (0.05, 0.15), 0.3, +1) == claims.PARTLY
  assert claims._effect_verdict(0.1, (-0.05, 0.25), 0.3, +1) == (
      claims.DISAGREES)
  assert claims._effect_verdict(-0.4, (-0.5, -0.3), 0.2, -1) == claims.AGREES
  assert claims._effect_verdict(0.4, (0.3, 0.5), 0.2, -1) == claims.DISAGREES
  assert claims._robust_verdict((-0.01, 0.02)) == claims.AGREES
  assert claims._robust_verdict((0.06, 0.1)) == claims.DISAGREES
  assert claims._robust_verdict((0.01, 0.08)) == claims.PARTLY
  assert claims._comparison_verdict((0.1, 0.2)) == claims.AGREES
  assert claims._comparison_verdict((-0.2, -0.1)) == claims.DISAGREES
  assert claims._comparison_verdict((-0.1, 0.1)) == claims.PARTLY
  assert claims.combine([claims.AGREES, claims.AGREES]) == claims.AGREES
  assert claims.combine([claims.DISAGREES] * 2) == claims.DISAGREES
  assert claims.combine([claims.AGREES, claims.DISAGREES]) == claims.PARTLY
  assert claims.combine([]) == claims.NOT_MEASURED


def test_translation_claims_follow_the_numbers():
  effects = {}
  for _, sit in claims.SHIFTS:
    effects[('glow_a_mnist', 'mnist', sit, 'discrete')] = 0.2
    effects[('glow_a_fm', 'fashion_mnist', sit, 'discrete')] = 0.02
    effects[('pix_mnist', 'mnist', sit, 'discrete')] = 0.0
    effects[('pix_fm', 'fashion_mnist', sit, 'discrete')] = 0.3
  result = claims.evaluate_claims(_table(effects), ROLES)
  glow = _claim(result, 'translation_glow')
  by_label = {c.label: c for c in glow.cells}
  assert by_label['affine Glow, MNIST, 1 px left'].verdict == claims.AGREES
  # Significant but below the material change: partly.
  assert by_label['affine Glow, FashionMNIST, 2 px left'].verdict == (
      claims.PARTLY)
  assert by_label['affine Glow, MNIST, 1 px left'].mean == pytest.approx(
      0.2, abs=0.01)
  assert glow.verdict == claims.PARTLY
  # No additive Glow given: its cells are listed as not measured.
  assert any('additive Glow' in m for m in glow.missing)
  pix = _claim(result, 'translation_pixelcnn')
  verdicts = {c.label.split(', ')[1]: c.verdict for c in pix.cells}
  assert verdicts == {'MNIST': claims.AGREES,
                      'FashionMNIST': claims.DISAGREES}
  assert pix.verdict == claims.PARTLY
  # Class 1 of MNIST is not the lowest in this table (labels raise bpd).
  one = _claim(result, 'mnist_class_one')
  assert one.cells[0].verdict == claims.DISAGREES


def test_class_one_lowest_agrees():
  labels = np.arange(N) % 10
  table = _table({('glow_a_mnist', 'mnist', claims.SHIFTS[0][1],
                   'discrete'): 0.})
  table['bpd_before'] = np.where(labels == 1, 1.0, 2.0 + labels * 0.01)
  result = claims.evaluate_claims(table, ROLES)
  assert _claim(result, 'mnist_class_one').cells[0].verdict == claims.AGREES


def test_noise_zero_and_comparison_claims():
  effects = {
      ('glow_a_mnist', 'mnist', claims.NOISE_ALL, 'continuous'): 0.5,
      ('pix_mnist', 'mnist', claims.NOISE_ALL, 'continuous'): 0.1,
      ('pix_mnist', 'mnist', claims.NOISE_ALL, 'conditioned'): 0.1,
      ('glow_a_mnist', 'mnist', 'zero_latents_k1_continuous',
       'continuous'): -0.3,
      ('glow_a_mnist', 'mnist', 'zero_latents_k2_continuous',
       'continuous'): -0.35,
      ('glow_a_mnist', 'mnist', claims.NOISE_CENTRE, 'continuous'): 0.3,
  }
  result = claims.evaluate_claims(_table(effects), ROLES)
  noise = {c.label: c for c in _claim(result, 'noise_all').cells}
  # Glow MNIST example +0.762: 0.5 >= half of it.
  assert noise['affine Glow, MNIST, everywhere'].verdict == claims.AGREES
  assert noise['affine Glow, MNIST, everywhere'].paper == pytest.approx(0.762)
  # PixelCNN MNIST example +2.184: 0.1 is significant but far smaller.
  assert noise['PixelCNN, MNIST, everywhere'].verdict == claims.PARTLY
  more = _claim(result, 'noise_pixelcnn_more_sensitive')
  assert {c.verdict for c in more.cells} == {claims.DISAGREES}
  assert more.cells[0].mean == pytest.approx(-0.4, abs=0.01)
  zero = {c.label: c for c in _claim(result, 'zero_latents_gain').cells}
  assert zero['affine Glow, MNIST, zero <= 1, continuous'].verdict == (
      claims.AGREES)
  first = _claim(result, 'zero_latents_first_factor').cells[0]
  # Gain 0.30 from the first factor, 0.05 from the second.
  assert first.mean == pytest.approx(0.25, abs=0.01)
  assert first.verdict == claims.AGREES
  expl = _claim(result, 'noise_explanation').cells[0]
  assert expl.verdict == claims.DISAGREES
  # Claims with nothing measured say so.
  assert _claim(result, 'noise_variants').verdict == claims.NOT_MEASURED


def test_table1_against_numpy():
  labels = np.arange(N) % 10
  rng = np.random.default_rng(1)
  pred = np.where(rng.random(N) < 0.9, labels, (labels + 1) % 10)
  pred_after = np.where(rng.random(N) < 0.8, labels, (labels + 1) % 10)
  before = np.full(N, 2.)
  blocks = [_block('glow_a_mnist', 'mnist', sit, 'discrete', before, before,
                   labels, pred, pred_after)
            for sit in ('translate_dx-1_dy0_zeros',
                        'zero_latents_k1_continuous')]
  # FashionMNIST: only a PixelCNN's rows. Translation is the same images for
  # every model, so they count; zeroing needs the affine Glow.
  blocks += [_block('pix_fm', 'fashion_mnist', sit, 'discrete', before,
                    before, labels, pred, pred_after)
             for sit in ('translate_dx-1_dy0_zeros',
                         'zero_latents_k1_continuous')]
  rows = claims.table1(per_image.concatenate(blocks), ROLES)
  by = {(r.dataset, r.perturbation): r for r in rows}
  assert by[('mnist', 'clean')].ours == pytest.approx(
      100 * np.mean(pred == labels))
  assert by[('mnist', '1-pixel left')].ours == pytest.approx(
      100 * np.mean(pred_after == labels))
  assert by[('mnist', 'clean')].verdict == (
      claims.AGREES if abs(by[('mnist', 'clean')].ours - 99.31) <= 2 else
      claims.PARTLY if abs(by[('mnist', 'clean')].ours - 99.31) <= 5
      else claims.DISAGREES)
  assert by[('mnist', 'Gaussian noise')].verdict == claims.NOT_MEASURED
  assert by[('fashion_mnist', 'clean')].ours == pytest.approx(
      100 * np.mean(pred == labels))
  assert by[('fashion_mnist', 'zero <= 1')].ours is None
  assert len(rows) == 10


def test_page_has_every_claim_and_table1_row():
  effects = {('glow_a_mnist', 'mnist', s, 'discrete'): 0.2
             for _, s in claims.SHIFTS}
  table = _table(effects)
  result = claims.evaluate_claims(table, ROLES)
  rows = claims.table1(table, ROLES)
  text = reproduction_page.render(result, rows, dict(
      command='bin/reproduce --quick', num_images=N,
      models=[('glow_a_mnist', 'x')], seconds=60., machine='m',
      commit='abc', date='2026-12-02'), [('Fig. 1', 'figs/f.png')])
  for i, claim in enumerate(result, 1):
    assert f'| {i} | {claim.section} | {claim.statement} |' in text
  for rule in claims.RULES:
    assert rule in text
  assert text.count('| Gaussian noise |') == 2
  assert '![Fig. 1](figs/f.png)' in text


@pytest.mark.parametrize('edge,centre,reading', [
    (0.5, 0.3, 'leaving the bins is not what drives the rise'),
    (0.5, 0.1, 'most of the rise comes with leaving the bins'),
    (0.5, 0.0, "as the paper's explanation predicts"),
    (-0.2, 0.3, '*more* likely'),
])
def test_noise_differences_read_from_both_placements(edge, centre, reading):
  table = _table({
      ('glow_a_mnist', 'mnist', claims.NOISE_ALL, 'continuous'): edge,
      ('glow_a_mnist', 'mnist', claims.NOISE_CENTRE, 'continuous'): centre})
  # pylint: disable=protected-access
  lines = reproduction_page._differences(
      claims.evaluate_claims(table, ROLES))
  assert len(lines) == 1
  assert lines[0].startswith('- affine Glow, MNIST: ')
  assert reading in lines[0]
