"""Markdown report of the SIT study, rendered from `summary.json` alone."""

__all__ = ['render']


def _f(value, digits=3):
  return '-' if value is None else f'{value:.{digits}f}'


def _pct(value):
  return '-' if value is None else f'{100 * value:.1f}%'


def _interval(mean, ci95, factor=1.):
  """`mean [low, high]`, each times `factor`, 3 decimals."""
  return (f'{factor * mean:.3f} [{factor * ci95[0]:.3f}, '
          f'{factor * ci95[1]:.3f}]')


def _classifier_cells(block):
  if not block:
    return ['-', '-', '-']
  return [_pct(block.get('accuracy_before')), _pct(block.get('accuracy_after')),
          _pct(block['agreement'])]


def _model_pixel_factor(model_config):
  """D / D' of a model (1 for summaries written before D' was recorded)."""
  d = model_config.get('num_subpixels')
  d_model = model_config.get('num_model_subpixels')
  return 1. if not d or not d_model else d / d_model


def _table(header, rows):
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


def render(summary):
  """Returns the report as Markdown text.

  Args:
    summary: the dict `run_study` writes to `summary.json`.
  """
  cfg = summary['config']
  out = ['# Likelihood under semantic-invariant transformations', '']
  n = cfg['num_images']
  out.append(
      f'Test split, {"all" if n is None else n} images per data set '
      f'({"class-stratified sample, " if n else ""}seed {cfg["seed"]}). '
      'Bits/dim: lower = more likely. delta = after - before (positive: '
      'the SIT made images less likely); the interval is a 95% bootstrap '
      'interval of the mean. "lik. up" = fraction of images whose likelihood '
      'rose. Continuous SITs are scored with the model\'s density at the '
      'clean and the transformed continuous image (no re-quantisation), on '
      'the bits/dim scale of the discrete likelihood. Every bits/dim is '
      'given per original pixel (D) and per model input pixel (D\', the '
      'padded canvas a 3-level Glow describes): bits/dim per model pixel = '
      'bits/dim x D / D\' (`tfp_flows.models.discrete`).')
  out.append('')
  out.append('## Models')
  out.append('')
  out.append(_table(['model', 'kind', 'trained on', 'D', 'D\'', 'checkpoint'], [
      [name, m['kind'], m['training_dataset'], m.get('num_subpixels', '-'),
       m.get('num_model_subpixels', '-'), f'`{m["checkpoint"]}`']
      for name, m in cfg['models'].items()]))
  factor = {name: _model_pixel_factor(m) for name, m in cfg['models'].items()}
  if cfg['skipped_sits_for_some_models']:
    out.append('')
    out.append('Skipped where the model cannot take them (ZeroLatents needs '
               'a multi-scale Glow): ' +
               ', '.join(cfg['skipped_sits_for_some_models']) + '.')
  out += ['', '## Clean test images', '']
  out.append(_table(
      ['model', 'data set', 'role', 'images', 'bits/dim mean [95% CI]',
       'median', 'per model pixel: mean [95% CI]', 'classifier acc.'],
      [[c['model'], c['dataset'], c['role'], c['count'],
        f'{c["bpd"]["mean"]:.3f} [{c["bpd"]["ci95"][0]:.3f}, '
        f'{c["bpd"]["ci95"][1]:.3f}]', _f(c['bpd']['median']),
        _interval(c['bpd']['mean'], c['bpd']['ci95'], factor[c['model']]),
        _pct(c['classifier_accuracy'])] for c in summary['clean']]))

  models = list(cfg['models'])
  for model in models:
    results = [r for r in summary['results'] if r['model'] == model]
    if not results:
      continue
    out += ['', f'## {model}: change of bits/dim under each SIT', '']
    out.append(_table(
        ['data set', 'SIT', 'eval', 'before', 'after', 'delta [95% CI]',
         'per model pixel: before, after, delta', 'lik. up',
         'mean abs change (grey levels)', 'median PSNR dB',
         'acc. before', 'acc. after', 'agreement'],
        [[r['dataset'], r['sit'] + (f' ({r["num_failed"]} failed)'
                                    if r.get('num_failed') else ''),
          r['evaluation'][:4],
          _f(r['bpd_before']['mean']), _f(r['bpd_after']['mean']),
          f'{r["delta"]["mean"]:+.3f} [{r["delta"]["ci95"][0]:+.3f}, '
          f'{r["delta"]["ci95"][1]:+.3f}]',
          f'{factor[model] * r["bpd_before"]["mean"]:.3f}, '
          f'{factor[model] * r["bpd_after"]["mean"]:.3f}, '
          f'{factor[model] * r["delta"]["mean"]:+.3f}',
          _pct(r['frac_likelihood_up']),
          _f(r['pixel_change']['mean_abs'], 2),
          _f(r['pixel_change']['median_psnr'], 1)] +
         _classifier_cells(r['classifier']) for r in results]))

  if summary['ood']:
    out += ['', '## Likelihood OoD detection before and after each SIT', '']
    out.append('AUROC of bits/dim as an OoD score (0.5 = chance; below 0.5 '
               'the OoD set is *more* likely than the in-distribution test '
               'set). "in transformed": the SIT is applied to the '
               'in-distribution images only.')
    out.append('')
    out.append(_table(
        ['model', 'in', 'OoD', 'SIT', 'clean', 'in transformed',
         'both transformed', 'in after vs OoD clean (bits/dim)'],
        [[o['model'], o['in_dataset'], o['ood_dataset'], o['sit'],
          _f(o['auroc_clean']), _f(o['auroc_in_transformed']),
          _f(o['auroc_both_transformed']),
          f'{o["mean_bpd_in_after"]:.3f} vs {o["mean_bpd_ood_clean"]:.3f}']
         for o in summary['ood']]))

  if summary.get('failed_groups'):
    out += ['', 'SITs that failed on every image (no statistics): ' + ', '.join(
        f'{g["model"]} / {g["dataset"]} / {g["sit"]}'
        for g in summary['failed_groups']) + '.']
  corr = [r for r in summary['results'] if r['classifier']]
  if corr:
    out += ['', '## Does likelihood track semantics? (Spearman correlations)',
            '']
    out.append('Per image: bits/dim vs the classifier\'s confidence (top '
               'class probability) on clean images, and change of bits/dim '
               'vs change of confidence under the SIT.')
    out.append('')
    out.append(_table(
        ['model', 'data set', 'SIT', 'bits/dim vs confidence',
         'delta bits/dim vs delta confidence'],
        [[r['model'], r['dataset'], r['sit'],
          _f(r['classifier']['spearman_bpd_vs_confidence']),
          _f(r['classifier']['spearman_delta_bpd_vs_delta_confidence'])]
         for r in corr]))

  out += ['', '## Per-class mean bits/dim of clean images', '']
  for c in summary['clean']:
    if len(c['per_class']) < 2:
      continue
    out.append(f'{c["model"]} on {c["dataset"]}: ' + ', '.join(
        f'{k}: {v["bpd"]:.3f}' for k, v in sorted(
            c['per_class'].items(), key=lambda kv: int(kv[0]))))
    out.append('')
  timing = summary.get('timing')
  if timing:
    out += ['## Timing', '']
    out.append(', '.join(f'{k} {v:.1f}' if isinstance(v, float) else
                         f'{k} {v}' for k, v in timing.items()))
  if summary.get('figures'):
    out += ['', '## Figures', '']
    out += [f'![{name}]({path})' for name, path in summary['figures'].items()]
  return '\n'.join(out) + '\n'
