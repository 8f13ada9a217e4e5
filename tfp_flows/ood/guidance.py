"""Which OoD score to use, and what breaks it: rules over OoD study results.

Reads the results `dict` of `tfp_flows.experiments.ood_study.run` (its
`models[*].detection` and `models[*].robustness`) and writes the
practitioner's section of the report. Every sentence is filled in from a
number of the tables, by these rules (stated on the page too):

* A score's **clean AUROC** is against the model's real OoD set (the other
  data set). It is *below chance* if its 95% interval lies below 0.5, *at
  chance* if the interval holds 0.5.
* A score's **worst SIT** is the SIT whose application to the
  in-distribution images gives the lowest AUROC against the real OoD set;
  its **worst-case AUROC** is the lower of that and the clean AUROC.
* **Per-image** scores decide one image at a time: every score but the
  typicality test with batches of M > 1 images.
* The **recommended** score of a model is the per-image score with the
  highest worst-case AUROC (ties: the higher clean AUROC). A score *breaks*
  under a SIT if that SIT lowers its AUROC by more than `BREAK_DROP`.
"""

__all__ = ['BREAK_DROP', 'RULES', 'format_interval', 'is_per_image',
           'recommended', 'render_guidance', 'score_summary']

BREAK_DROP = 0.05

RULES = (
    'AUROC against the real OoD set; *below chance* if the 95% interval '
    'lies below 0.5, *at chance* if it holds 0.5. A score\'s worst SIT is '
    'the one that, applied to the in-distribution images, gives the lowest '
    'AUROC; its worst-case AUROC is the lower of that and the clean one. '
    'Per-image scores are all but typicality with batches of M > 1. The '
    'recommended score is the per-image score with the highest worst-case '
    'AUROC. A SIT *breaks* a score if it lowers its AUROC by more than '
    f'{BREAK_DROP}.')


def is_per_image(score):
  """Whether `score` decides one image at a time (not a batch of M > 1)."""
  return not score.startswith('typicality_m') or score == 'typicality_m1'


def score_summary(model_result, score):
  """One score's clean AUROC, FPR95 and worst SITs for one model.

  Returns:
    dict with `clean` and `fpr95` (interval dicts `value`/`low`/`high`),
    `worst_in` and `worst_both` (`None`, or dict `sit`, `auroc`, and for
    `worst_in` the fraction `flips` of in-distribution decisions that the
    SIT flips), and `worst_case` (float).
  """
  real = model_result['real_ood']
  row = model_result['detection'][score][real]
  out = dict(score=score, clean=row['auroc'], fpr95=row['fpr_at_tpr'],
             worst_in=None, worst_both=None)
  moved = [(sit, r[score]) for sit, r in model_result['robustness'].items()
           if score in r]
  # A SIT that transformed no image of a set has None there: skipped.
  moved_in = [m for m in moved if m[1]['auroc_in_moved'] is not None]
  moved_both = [m for m in moved if m[1]['auroc_both_moved'] is not None]
  if moved_in:
    sit, r = min(moved_in, key=lambda x: x[1]['auroc_in_moved']['value'])
    out['worst_in'] = dict(sit=sit, auroc=r['auroc_in_moved'],
                           flips=r['flips']['flip_fraction'])
  if moved_both:
    sit, r = min(moved_both, key=lambda x: x[1]['auroc_both_moved']['value'])
    out['worst_both'] = dict(sit=sit, auroc=r['auroc_both_moved'])
  out['worst_case'] = min(
      [out['clean']['value']]
      + ([out['worst_in']['auroc']['value']] if out['worst_in'] else []))
  return out


def recommended(model_result):
  """The summary of the recommended score of one model (see module doc)."""
  summaries = [score_summary(model_result, s) for s in model_result['scores']
               if is_per_image(s)]
  return max(summaries, key=lambda s: (s['worst_case'], s['clean']['value']))


def _v(interval):
  return f'{interval["value"]:.3f}'


def format_interval(interval):
  """'value [low, high]' of an interval dict, 3 decimals ('n/a' for None:
  a SIT that transformed no image)."""
  if interval is None:
    return 'n/a'
  return (f'{interval["value"]:.3f} [{interval["low"]:.3f}, '
          f'{interval["high"]:.3f}]')


def _chance(interval):
  if interval['high'] < 0.5:
    return 'below chance'
  if interval['low'] <= 0.5:
    return 'at chance'
  return 'above chance'


def _name(model_result):
  return model_result['model_dir'].rstrip('/').rsplit('/', 1)[-1]


def _model_lines(m):
  real, own = m['real_ood'], m['dataset']
  summaries = {s: score_summary(m, s) for s in m['scores']}
  lines = [f'### {_name(m)} ({own} in, {real} out)', '']
  sentences = []
  if 'likelihood' in summaries:
    lik = summaries['likelihood']['clean']
    sentences.append(f'The raw likelihood has AUROC {format_interval(lik)} '
                     f'against {real}: {_chance(lik)}.')
  best = max(summaries.values(), key=lambda s: s['clean']['value'])
  sentences.append(
      f'Best against clean {real}: `{best["score"]}`, AUROC '
      f'{format_interval(best["clean"])}, FPR at 95% TPR '
      f'{_v(best["fpr95"])}'
      + ('' if is_per_image(best['score']) else
         ' (it decides per batch, not per image)') + '.')
  rec = recommended(m)
  if rec['worst_in'] is not None:
    sentences.append(
        f'Recommended: `{rec["score"]}`, clean AUROC {_v(rec["clean"])}; '
        f'its lowest under a SIT on the in-distribution images is '
        f'{_v(rec["worst_in"]["auroc"])} (`{rec["worst_in"]["sit"]}`, '
        f'{100 * rec["worst_in"]["flips"]:.0f}% of decisions flipped).')
  for s in sorted(summaries.values(), key=lambda s: -s['clean']['value']):
    w = s['worst_in']
    if w is not None and s['clean']['value'] - w['auroc']['value'] > \
        BREAK_DROP:
      sentences.append(
          f'`{s["score"]}` breaks under `{w["sit"]}` on the in-distribution '
          f'images: AUROC {_v(s["clean"])} -> {_v(w["auroc"])}, '
          f'{100 * w["flips"]:.0f}% of their decisions flip.')
  level_names = [s for s in summaries if s.startswith('level_')]
  if level_names:
    level = max(level_names, key=lambda s: summaries[s]['clean']['value'])
    sentences.append(
        f'Of the Glow\'s {len(level_names)} levels, `{level}` separates '
        f'{own} from {real} best: AUROC '
        f'{format_interval(summaries[level]["clean"])}'
        + (f' (`coarsest_minus_finest`: '
           f'{_v(summaries["coarsest_minus_finest"]["clean"])})'
           if 'coarsest_minus_finest' in summaries else '') + '.')
  flipped = f'{own}_vflip'
  vflip = [(s, r[flipped]['auroc']) for s, r in m['detection'].items()
           if flipped in r]
  if vflip:
    s, a = max(vflip, key=lambda x: x[1]['value'])
    sentences.append(f'Against {flipped} (same images upside down) the best '
                     f'score is `{s}` at {format_interval(a)}: {_chance(a)}.')
  lines += [f'- {s}' for s in sentences]
  lines += ['', f'| score | clean AUROC vs {real} | worst SIT on in-distribu'
            'tion | AUROC there | decisions flipped | worst SIT on both | '
            'AUROC there |', '|---|---|---|---|---|---|---|']
  for s in summaries.values():
    w, b = s['worst_in'], s['worst_both']
    cells = ([f'`{w["sit"]}`', _v(w['auroc']), f'{100 * w["flips"]:.1f}%']
             if w else ['-', '-', '-'])
    cells += [f'`{b["sit"]}`', _v(b['auroc'])] if b else ['-', '-']
    lines.append(f'| {s["score"]} | {format_interval(s["clean"])} | '
                 + ' | '.join(cells) + ' |')
  return lines + ['']


def render_guidance(results):
  """The Markdown section 'Which score to use, and what breaks it'."""
  lines = ['## Which score to use, and what breaks it', '',
           'Rules: ' + RULES, '']
  models = results['models']
  common = [s for s in models[0]['scores'] if is_per_image(s)
            and all(s in m['scores'] for m in models)] if models else []
  if len(models) > 1 and common:
    worst = {s: min((score_summary(m, s)['worst_case'], _name(m))
                    for m in models) for s in common}
    s = max(common, key=lambda k: worst[k][0])
    # Below 0.5 the "best" score is only the least broken: say so.
    caveat = (' No per-image score stays at or above chance under every '
              'SIT for every model.' if worst[s][0] < 0.5 else '')
    lines += [f'Across the {len(models)} models, the per-image score they '
              f'all have with the highest worst-case AUROC is `{s}`: '
              f'{worst[s][0]:.3f} (at its lowest for {worst[s][1]}).'
              + caveat, '']
  for m in models:
    lines += _model_lines(m)
  return lines
