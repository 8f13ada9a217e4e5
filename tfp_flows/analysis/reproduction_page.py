"""Renders docs/REPRODUCTION.md: the paper's claims, our numbers and computed verdicts.

Input is what `claims.evaluate_claims` and `claims.table1` return plus a few
facts about the run; output is Markdown text. Nothing here judges: every
verdict arrives computed.
"""

from tfp_flows.analysis import claims as claims_lib

__all__ = ['render']

_VERDICT_MARK = {claims_lib.AGREES: 'agrees', claims_lib.PARTLY: 'partly',
                 claims_lib.DISAGREES: 'disagrees',
                 claims_lib.NOT_MEASURED: 'not reproducible here'}


def _num(value, digits=3, signed=True):
  return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def _cell_text(cell, signed=True, digits=3):
  low, high = cell.ci95
  return (f'{_num(cell.mean, digits, signed)} '
          f'[{_num(low, digits, signed)}, {_num(high, digits, signed)}]')


def _summary_of(claim):
  """The compact 'ours' column: range of cell means and the verdict count."""
  if not claim.cells:
    return ('not measured (not shipped: ' + '; '.join(claim.missing) + ')'
            if claim.missing else 'not measured')
  signed = claim.key not in ('mnist_class_one', 'ood_fashion_mnist')
  means = [c.mean for c in claim.cells]
  counts = {v: sum(c.verdict == v for c in claim.cells)
            for v in (claims_lib.AGREES, claims_lib.PARTLY,
                      claims_lib.DISAGREES)}
  spread = (_num(min(means), 3, signed) if len(means) == 1 else
            f'{_num(min(means), 3, signed)} to {_num(max(means), 3, signed)}')
  tally = ', '.join(f'{n} {v}' for v, n in counts.items() if n)
  text = f'{spread} over {len(claim.cells)} cells ({tally})'
  if claim.missing:
    text += '; not measured: ' + '; '.join(claim.missing)
  return text


def _differences(claims):
  """Lines explaining, from measured cells, where the noise claims differ.

  The paper attributes the noise effect to noise leaving the training bins;
  the same noise with the image at the bin centre stays inside them, so
  comparing the two placements per model tests that attribution.
  """
  by_key = {c.key: c for c in claims}
  edge = {c.label.rsplit(', ', 1)[0]: c
          for c in getattr(by_key.get('noise_all'), 'cells', [])}
  centre = {c.label.rsplit(', ', 1)[0]: c
            for c in getattr(by_key.get('noise_explanation'), 'cells', [])}
  lines = []
  for model in sorted(set(edge) & set(centre)):
    e, c = edge[model], centre[model]
    if c.verdict == claims_lib.AGREES:
      reading = ('inside the bins the noise leaves bits/dim unchanged, as '
                 'the paper\'s explanation predicts')
    elif e.ci95[1] < 0:
      reading = ('at the paper\'s bin edge the model finds the noisy image '
                 '*more* likely, so there is no drop to explain')
    elif e.ci95[0] <= 0:
      reading = ('at the paper\'s bin edge there is no measurable change, '
                 'so there is no drop to explain')
    elif c.ci95[0] > 0 and c.mean >= 0.5 * e.mean:
      reading = ('noise kept inside the bins raises bits/dim at least half '
                 'as much: leaving the bins is not what drives the rise')
    else:
      reading = ('noise kept inside the bins raises bits/dim less than half '
                 'as much: most of the rise comes with leaving the bins, as '
                 'the paper says')
    lines.append(f'- {model}: {_cell_text(e)} with the image at the bin edge '
                 f'(the paper\'s setting), {_cell_text(c)} at the bin centre: '
                 f'{reading}.')
  return lines


def render(claims, table1_rows, run, figures):
  """The page's Markdown.

  Args:
    claims: `list` of `claims.Claim`.
    table1_rows: `list` of `claims.Table1Row`.
    run: `dict` with `command` (str), `num_images` (per data set, or None
      for all), `models` (list of `(name, description)`), `seconds`
      (wall time of the study), `machine`, `commit`, `date`.
    figures: `list` of `(caption, relative path)`.

  Returns:
    Markdown `str`.
  """
  sample = ('all 10,000 test images of each set' if run['num_images'] is None
            else f'a seeded, class-stratified sample of {run["num_images"]:,} '
            'test images per data set (the same images for every model)')
  lines = [
      '# Reproduction of Wang & Yiu (2019), claim by claim', '',
      'Wang & Yiu, "Exploring the Correlation between Likelihood of '
      'Flow-based Generative Models and Image Semantics" (2019), measured '
      'with the shipped checkpoints of this repository on ' + sample + '.',
      f'Regenerate this page with `{run["command"]}` '
      f'({run["seconds"] / 60:.1f} min for the study on {run["machine"]}; '
      f'code `{run["commit"]}`, {run["date"]}). Every number is a mean over '
      'images with a 95% bootstrap interval, bits/dim per original pixel '
      '(D = 784) unless a row says otherwise; every verdict is computed from '
      'the numbers by the rules below.', '',
      '## Models', '', '| model | checkpoint |', '|---|---|']
  lines += [f'| `{name}` | {desc} |' for name, desc in run['models']]
  lines += ['', '## How a verdict is computed', '']
  lines += [f'- {rule}' for rule in claims_lib.RULES]
  lines += ['', '## The claims', '',
            '| # | section | the paper says | paper\'s numbers | ours | '
            'verdict |', '|---|---|---|---|---|---|']
  for i, claim in enumerate(claims, 1):
    lines.append(f'| {i} | {claim.section} | {claim.statement} | '
                 f'{claim.paper_numbers} | {_summary_of(claim)} | '
                 f'**{_VERDICT_MARK[claim.verdict]}** |')
  differences = _differences(claims)
  if differences:
    lines += ['', '## Where the noise claims differ, measured', '',
              'Gaussian noise (eps = 0.001, everywhere), mean change of '
              'bits/dim, at the paper\'s bin edge and at the bin centre '
              '(claims 4 and 9):', ''] + differences
  lines += ['', '## Paper Table 1: classifier accuracy under each SIT', '',
            'Accuracy (%) of the shipped classifier of each data set on the '
            'transformed test sample (zeroing: decoded by the affine Glow).',
            '', '| perturbation | data set | paper | ours [95% interval] | '
            'images | verdict |', '|---|---|---|---|---|---|']
  for row in table1_rows:
    ours = ('-' if row.ours is None else
            f'{row.ours:.2f} [{row.ci95[0]:.2f}, {row.ci95[1]:.2f}]')
    lines.append(f'| {row.perturbation} | '
                 f'{claims_lib.DATASET_LABEL[row.dataset]} | {row.paper:.2f} | '
                 f'{ours} | {row.count or "-"} | '
                 f'**{_VERDICT_MARK[row.verdict]}** |')
  lines += ['', '## Each claim, cell by cell', '']
  for i, claim in enumerate(claims, 1):
    signed = claim.key not in ('mnist_class_one', 'ood_fashion_mnist')
    lines += [f'### {i}. {claim.statement}', '',
              f'Measured: {claim.measure}. Verdict: '
              f'**{_VERDICT_MARK[claim.verdict]}**.', '']
    if claim.cells:
      has_paper = any(c.paper is not None for c in claim.cells)
      lines += ['| case | images | ours [95% interval] |'
                + (' paper\'s example |' if has_paper else '') + ' verdict |',
                '|---|---|---|' + ('---|' if has_paper else '') + '---|']
      for c in claim.cells:
        paper = (f' {"-" if c.paper is None else _num(c.paper)} |'
                 if has_paper else '')
        lines.append(f'| {c.label} | {c.count:,} | {_cell_text(c, signed)} |'
                     f'{paper} {c.verdict} |')
      lines.append('')
    if claim.missing:
      lines += ['Not measured (model not shipped): ' +
                '; '.join(claim.missing) + '.', '']
  if figures:
    lines += ['## Figures', '']
    for caption, path in figures:
      lines += [f'**{caption}**', '', f'![{caption}]({path})', '']
  return '\n'.join(lines)
