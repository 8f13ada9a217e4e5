"""tfp_flows.ood.guidance: its rules, on hand-made study results."""

from tfp_flows.ood import guidance


def _ci(value, half=0.01):
  return dict(value=value, low=value - half, high=value + half)


def _model(name, clean, moved, vflip):
  """Results of one model: `clean` {score: AUROC}, `moved` {sit: {score:
  (AUROC in, flip fraction, AUROC both)}}, `vflip` {score: AUROC}."""
  detection = {s: {'mnist': dict(auroc=_ci(a), fpr_at_tpr=_ci(1. - a),
                                 aupr=_ci(a)),
                   'fashion_mnist_vflip': dict(auroc=_ci(vflip[s]))}
               for s, a in clean.items()}
  robustness = {
      sit: {s: dict(auroc_in_moved=_ci(a_in),
                    flips=dict(flip_fraction=f),
                    auroc_both_moved=_ci(a_both))
            for s, (a_in, f, a_both) in rows.items()}
      for sit, rows in moved.items()}
  return dict(model_dir=f'checkpoints/{name}', dataset='fashion_mnist',
              real_ood='mnist', scores=list(clean), detection=detection,
              robustness=robustness)


def _results():
  clean = dict(likelihood=0.06, input_complexity_png=0.99,
               likelihood_ratio=0.97, typicality_m1=0.85,
               typicality_m10=1.0)
  moved = {
      'shift': dict(likelihood=(0.06, 0.01, 0.06),
                    input_complexity_png=(0.98, 0.02, 0.98),
                    likelihood_ratio=(0.96, 0.03, 0.95),
                    typicality_m1=(0.84, 0.01, 0.84),
                    typicality_m10=(1.0, 0.0, 1.0)),
      'noise': dict(likelihood=(0.0, 0.6, 0.02),
                    input_complexity_png=(0.68, 0.5, 0.8),
                    likelihood_ratio=(0.90, 0.1, 0.93),
                    typicality_m1=(0.13, 0.8, 0.02),
                    typicality_m10=(0.0, 0.95, 0.0))}
  vflip = dict(likelihood=0.55, input_complexity_png=0.59,
               likelihood_ratio=0.52, typicality_m1=0.50, typicality_m10=0.5)
  return dict(models=[_model('pixelcnn_fashion_mnist', clean, moved, vflip)])


def test_per_image_scores_exclude_only_batches_of_several_images():
  assert guidance.is_per_image('likelihood')
  assert guidance.is_per_image('typicality_m1')
  assert not guidance.is_per_image('typicality_m2')
  assert guidance.is_per_image('level_3')


def test_worst_sit_and_worst_case():
  m = _results()['models'][0]
  s = guidance.score_summary(m, 'input_complexity_png')
  assert s['worst_in']['sit'] == 'noise'
  assert s['worst_in']['flips'] == 0.5
  assert s['worst_case'] == 0.68
  assert s['worst_both']['sit'] == 'noise'


def test_recommendation_is_the_best_worst_case_per_image_score():
  m = _results()['models'][0]
  # input complexity is best clean (0.99) but falls to 0.68; the likelihood
  # ratio never falls below 0.90; typicality_m10 (best clean, 1.0) decides
  # per batch and so is not a candidate.
  assert guidance.recommended(m)['score'] == 'likelihood_ratio'


def test_page_states_each_number_it_rests_on():
  text = '\n'.join(guidance.render_guidance(_results()))
  assert 'AUROC 0.060 [0.050, 0.070] against mnist: below chance' in text
  assert '`typicality_m10`, AUROC 1.000' in text
  assert 'per batch' in text
  assert 'Recommended: `likelihood_ratio`, clean AUROC 0.970' in text
  assert '0.900 (`noise`, 10% of decisions flipped)' in text
  # Drops over BREAK_DROP are reported; the likelihood ratio's 0.07 too,
  # the shift's 0.01 drops are not.
  assert ('`input_complexity_png` breaks under `noise` on the '
          'in-distribution images: AUROC 0.990 -> 0.680, 50%') in text
  assert '`likelihood_ratio` breaks under `noise`' in text
  assert 'under `shift`' not in text
  assert ('best score is `input_complexity_png` at 0.590 [0.580, 0.600]: '
          'above chance') in text
  # Every score has its table row.
  for score in _results()['models'][0]['scores']:
    assert f'| {score} | ' in text


def test_across_models_names_the_weakest_model():
  results = _results()
  other = _results()['models'][0]
  other['model_dir'] = 'checkpoints/pixelcnn_mnist'
  other['robustness']['noise']['likelihood_ratio']['auroc_in_moved'] = _ci(
      0.4)
  results['models'].append(other)
  text = '\n'.join(guidance.render_guidance(results))
  # The ratio's worst case is now 0.40 (the MNIST model); input complexity
  # keeps 0.68 on both, so it wins across models.
  assert ('Across the 2 models, the per-image score they all have with the '
          'highest worst-case AUROC is `input_complexity_png`: 0.680') in text
  assert 'No per-image score stays at or above chance' not in text
  # When even the best worst case is below chance, the page says so.
  for m in results['models']:
    for score in m['robustness']['noise']:
      m['robustness']['noise'][score]['auroc_in_moved'] = _ci(0.3)
  text = '\n'.join(guidance.render_guidance(results))
  assert ': 0.300 (at its lowest' in text
  assert ('No per-image score stays at or above chance under every SIT for '
          'every model.') in text


def test_best_glow_level_is_named():
  results = _results()
  m = results['models'][0]
  for level, value in (('level_1', 0.05), ('level_2', 0.9), ('level_3', 0.99),
                       ('coarsest_minus_finest', 0.98)):
    m['scores'].append(level)
    m['detection'][level] = {'mnist': dict(auroc=_ci(value),
                                           fpr_at_tpr=_ci(0.1))}
  text = '\n'.join(guidance.render_guidance(results))
  assert ("Of the Glow's 3 levels, `level_3` separates fashion_mnist from "
          'mnist best: AUROC 0.990 [0.980, 1.000] '
          '(`coarsest_minus_finest`: 0.980).') in text
