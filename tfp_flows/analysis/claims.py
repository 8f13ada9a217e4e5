"""The reference paper's claims, each checked against the SIT study's per-image table by a stated rule.

Wang & Yiu (2019) make claims about how bits/dim (and a classifier) respond
to semantic-invariant transformations. `evaluate_claims` measures each claim
on the table `sit_study.run_study` writes (`per_image.csv`), cell by cell
(one model x data set x variant), and gives every cell and claim a verdict
computed by the rules in `RULES`; nothing is judged by hand.

Units: bits/dim per original pixel (D = 784); accuracies in percent.
`delta` = bits/dim after - before (positive: the image became less likely).
"""

import dataclasses

import numpy as np

from tfp_flows.analysis import statistics

__all__ = ['AGREES', 'Cell', 'Claim', 'DISAGREES', 'MATERIAL_CHANGE',
           'NOT_MEASURED', 'PARTLY', 'RULES', 'Table1Row', 'combine',
           'evaluate_claims', 'table1']

AGREES, PARTLY, DISAGREES = 'agrees', 'partly', 'disagrees'
NOT_MEASURED = 'not reproducible here'
# The smallest mean change of bits/dim we call a change: about 1-4% of these
# models' bits/dim, and 5-25x the dequantisation noise of a 500-image mean.
MATERIAL_CHANGE = 0.05
# Table 1: our accuracy against the paper's, in percentage points.
TABLE1_AGREE_PP, TABLE1_PARTLY_PP = 2., 5.
NUM_BOOTSTRAP = 2000

RULES = (
    f'**Effect with a paper example** (noise, zeroing): *agrees* if the 95% '
    'interval of the mean change excludes 0 on the claimed side and the mean '
    'is at least half the paper\'s example change; *partly* if the interval '
    'is on the claimed side but the mean is smaller; *disagrees* otherwise.',
    f'**Effect without example numbers** (translation "rises obviously"): as '
    f'above, with {MATERIAL_CHANGE} bits/dim (the material change) in place '
    'of half the example.',
    f'**Robustness** ("robust", "look the same" in bits/dim): *agrees* if the '
    f'interval lies inside +-{MATERIAL_CHANGE}; *disagrees* if it lies '
    'wholly outside; *partly* otherwise.',
    '**Comparison** (A more than B, on the same images): the per-image '
    'difference; *agrees* if its interval is above 0, *disagrees* if below, '
    '*partly* if it contains 0.',
    '**Class ranking** (MNIST "1" lowest): *agrees* if class 1\'s interval '
    'lies below every other class\'s; *partly* if its mean is the lowest but '
    'intervals overlap; *disagrees* otherwise.',
    f'**Table 1 accuracies**: *agrees* within {TABLE1_AGREE_PP:g} '
    f'percentage points of the paper, *partly* within {TABLE1_PARTLY_PP:g}, '
    '*disagrees* beyond.',
    '**A claim** over several cells: *agrees* if every measured cell agrees, '
    '*disagrees* if every one disagrees, *partly* otherwise; *not '
    'reproducible here* if no cell could be measured (a model not given).',
)

SHIFTS = (('1 px left', 'translate_dx-1_dy0_zeros'),
          ('2 px left', 'translate_dx-2_dy0_zeros'))
NOISE_ALL = 'noise_normal_eps0.001_all_edge'
NOISE_BACKGROUND = 'noise_normal_eps0.001_background_edge'
NOISE_CENTRE = 'noise_normal_eps0.001_all_centre'
NOISE_VARIANTS = (
    ('1/256 + N(0,1)', 'noise_normal_shifted_eps0.001_{mask}_edge'),
    ('U[-1/256, 0]', 'noise_uniform_negative_eps0.001_{mask}_edge'))
ZERO = {1: ('zero_latents_k1_continuous', 'zero_latents_k1_quantised'),
        2: ('zero_latents_k2_continuous', 'zero_latents_k2_quantised')}
# The paper's Fig. 3 examples: change of bits/dim under Gaussian noise,
# (everywhere, background only), by (family, data set).
NOISE_EXAMPLES = {('glow', 'mnist'): (2.102 - 1.340, 2.351 - 1.340),
                  ('pixelcnn', 'mnist'): (3.289 - 1.105, 3.277 - 1.105),
                  ('glow', 'fashion_mnist'): (2.554 - 1.986, 2.681 - 1.986),
                  ('pixelcnn', 'fashion_mnist'): (2.972 - 1.809,
                                                  2.997 - 1.809)}
# Fig. 5 (affine Glow): mean change of its two examples per data set,
# zero <= 1 and zero <= 2.
ZERO_EXAMPLES = {'mnist': (((0.645 - 0.852) + (1.062 - 1.306)) / 2,
                           ((0.588 - 0.852) + (1.009 - 1.306)) / 2),
                 'fashion_mnist': (((1.368 - 1.715) + (2.526 - 2.967)) / 2,
                                   ((1.356 - 1.715) + (2.508 - 2.967)) / 2)}
TABLE1 = (('clean', None, 99.31, 93.03),
          ('1-pixel left', 'translate_dx-1_dy0_zeros', 99.12, 89.71),
          ('Gaussian noise', NOISE_ALL, 99.31, 93.04),
          ('zero <= 1', 'zero_latents_k1_continuous', 99.18, 91.44),
          ('zero <= 2', 'zero_latents_k2_continuous', 99.07, 86.22))
DATASET_LABEL = {'mnist': 'MNIST', 'fashion_mnist': 'FashionMNIST'}
FAMILY_LABEL = {'glow_affine': 'affine Glow', 'glow_additive': 'additive Glow',
                'pixelcnn': 'PixelCNN'}


@dataclasses.dataclass
class Cell:
  """One measured case of a claim.

  Attributes:
    label: what was measured, e.g. 'affine Glow, MNIST, 1 px left'.
    mean: the measured mean (bits/dim, a difference of them, or percent).
    ci95: `(low, high)` 95% bootstrap interval of `mean`.
    verdict: one of `AGREES`, `PARTLY`, `DISAGREES`.
    paper: the paper's example number for this case, or `None`.
    count: images measured.
  """
  label: str
  mean: float
  ci95: tuple
  verdict: str
  paper: object = None
  count: int = 0


@dataclasses.dataclass
class Claim:
  """One claim of the paper with its cells and computed verdict."""
  key: str
  section: str
  statement: str
  paper_numbers: str
  measure: str
  cells: list
  verdict: str
  missing: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Table1Row:
  """One row of the paper's Table 1 for one data set (accuracies in %)."""
  perturbation: str
  dataset: str
  paper: float
  ours: object  # float, or None when not measured
  ci95: object
  verdict: str
  count: int = 0


def combine(verdicts):
  """A claim's verdict from its cells' verdicts (see `RULES`)."""
  verdicts = [v for v in verdicts if v != NOT_MEASURED]
  if not verdicts:
    return NOT_MEASURED
  if all(v == AGREES for v in verdicts):
    return AGREES
  if all(v == DISAGREES for v in verdicts):
    return DISAGREES
  return PARTLY


def _effect_verdict(mean, ci, threshold, sign):
  """`sign` +1: the claim is an increase; -1: a decrease."""
  low, high = (ci[0], ci[1]) if sign > 0 else (-ci[1], -ci[0])
  if low > 0:
    return AGREES if sign * mean >= threshold else PARTLY
  return DISAGREES


def _robust_verdict(ci, tolerance=MATERIAL_CHANGE):
  if -tolerance < ci[0] and ci[1] < tolerance:
    return AGREES
  if ci[0] >= tolerance or ci[1] <= -tolerance:
    return DISAGREES
  return PARTLY


def _comparison_verdict(ci):
  if ci[0] > 0:
    return AGREES
  if ci[1] < 0:
    return DISAGREES
  return PARTLY


class _Table:
  """Per-image rows by (model, data set, SIT, evaluation), aligned by index."""

  def __init__(self, table):
    self._t = table
    self._keys = {}
    for i, key in enumerate(zip(table['model'], table['dataset'],
                                table['sit'], table['evaluation'])):
      self._keys.setdefault(key, []).append(i)

  def rows(self, model, dataset, sit, evaluation=None):
    """Row indices sorted by image index; `evaluation=None`: the density
    (`discrete` or `continuous`, not a PixelCNN's `conditioned` score)."""
    evals = ((evaluation,) if evaluation else ('discrete', 'continuous'))
    for e in evals:
      idx = self._keys.get((model, dataset, sit, e))
      if idx:
        idx = np.asarray(idx)
        return idx[np.argsort(self._t['index'][idx], kind='stable')]
    return None

  def delta(self, model, dataset, sit, evaluation=None):
    """`(image indices, delta)` with failed (NaN) images removed, or None."""
    idx = self.rows(model, dataset, sit, evaluation)
    if idx is None:
      return None
    delta = self._t['bpd_after'][idx] - self._t['bpd_before'][idx]
    ok = np.isfinite(delta)
    return self._t['index'][idx][ok], delta[ok]

  def column(self, name, idx):
    return self._t[name][idx]


def _mean_cell(label, values, verdict_fn, paper=None, seed=0):
  ci = statistics.bootstrap_mean_ci(values, num_resamples=NUM_BOOTSTRAP,
                                    seed=seed)
  mean = float(np.mean(values))
  return Cell(label, mean, ci, verdict_fn(mean, ci), paper, int(values.size))


def _aligned(a, b):
  """Two `(indices, values)` pairs restricted to the images both have."""
  (ia, da), (ib, db) = a, b
  _, pa, pb = np.intersect1d(ia, ib, return_indices=True)
  return da[pa], db[pb]


def _paired(a, b):
  """Per-image `a - b` over the images both have."""
  da, db = _aligned(a, b)
  return da - db


def _auroc_ci(neg, pos, seed=0, num_resamples=500):
  rng = np.random.default_rng(seed)
  values = [statistics.auroc(rng.choice(neg, neg.size), rng.choice(pos, pos.size))
            for _ in range(num_resamples)]
  return tuple(float(v) for v in np.quantile(values, [0.025, 0.975]))


def evaluate_claims(table, models):
  """Measures every claim of the paper on a SIT study's per-image table.

  Args:
    table: the per-image table (`per_image.read_csv`): the study run with
      the paper's SITs (`sits.preset('paper')`) plus
      `noise_normal_eps0.001_all_centre`, each model on its own test sample
      and on the other data set's.
    models: `dict` model name (as in the table) -> `(family, dataset)`,
      family one of 'glow_affine', 'glow_additive', 'pixelcnn', dataset the
      model's training set.

  Returns:
    `list` of `Claim`, in the order of the paper.
  """
  t = _Table(table)
  by_role = {(fam, ds): name for name, (fam, ds) in models.items()}
  datasets = ('mnist', 'fashion_mnist')
  glows = ('glow_affine', 'glow_additive')

  def model_of(family, dataset):
    return by_role.get((family, dataset))

  def label(family, dataset, *rest):
    return ', '.join((FAMILY_LABEL[family], DATASET_LABEL[dataset]) + rest)

  claims = []

  def add(key, section, statement, paper_numbers, measure, wanted, cell_fn):
    """`wanted`: (family, dataset, extra...) tuples; `cell_fn` returns a
    Cell or None (not measurable)."""
    cells, missing = [], []
    for spec in wanted:
      cell = cell_fn(*spec) if model_of(spec[0], spec[1]) else None
      if cell is None:
        missing.append(label(spec[0], spec[1]))
      else:
        cells.append(cell)
    claims.append(Claim(key, section, statement, paper_numbers, measure,
                        cells, combine([c.verdict for c in cells]),
                        sorted(set(missing))))

  # --- Translation (section 4.1).
  def shift_cell(family, dataset, shift_label, sit, robust):
    d = t.delta(model_of(family, dataset), dataset, sit)
    if d is None:
      return None
    fn = ((lambda m, ci: _robust_verdict(ci)) if robust else
          (lambda m, ci: _effect_verdict(m, ci, MATERIAL_CHANGE, +1)))
    return _mean_cell(label(family, dataset, shift_label), d[1], fn)

  add('translation_glow', '4.1, Figs. 1-2',
      "Glow's bits/dim rises obviously when the image is shifted 1 or 2 "
      'pixels left (its squeezes cut a different 2x2 grid).',
      'Fig. 1 (affine Glow, MNIST classes 0-4); no numbers in the text.',
      'mean change of bits/dim on the model\'s own test sample',
      [(f, d, sl, s, False) for f in glows for d in datasets
       for sl, s in SHIFTS], shift_cell)
  add('translation_pixelcnn', '4.1, Figs. 1-2',
      "PixelCNN's bits/dim is robust to the same shifts.",
      'Fig. 1; no numbers in the text.',
      'mean change of bits/dim on the model\'s own test sample',
      [('pixelcnn', d, sl, s, True) for d in datasets for sl, s in SHIFTS],
      shift_cell)

  def class_one_cell(family, dataset):
    idx = t.rows(model_of(family, dataset), dataset, SHIFTS[0][1])
    if idx is None:
      return None
    bpd = t.column('bpd_before', idx)
    labels = t.column('label', idx)
    cis = {c: statistics.bootstrap_mean_ci(bpd[labels == c],
                                           num_resamples=NUM_BOOTSTRAP)
           for c in np.unique(labels)}
    means = {c: float(bpd[labels == c].mean()) for c in cis}
    others = [c for c in cis if c != 1]
    lowest = min(means, key=means.get) == 1
    if lowest and all(cis[1][1] < cis[c][0] for c in others):
      verdict = AGREES
    elif lowest:
      verdict = PARTLY
    else:
      verdict = DISAGREES
    runner_up = min(others, key=means.get)
    return Cell(label(family, dataset, f'class 1 vs the next lowest, class '
                      f'{runner_up} ({means[runner_up]:.3f})'),
                means[1], cis[1], verdict, None, int((labels == 1).sum()))

  add('mnist_class_one', '4.1, Fig. 1',
      'MNIST class "1" has much lower bits/dim than every other class.',
      'Fig. 1 (affine Glow and PixelCNN, classes 0-4).',
      'mean clean bits/dim of class 1 (interval) against the other classes',
      [(f, 'mnist') for f in ('glow_affine', 'glow_additive', 'pixelcnn')],
      class_one_cell)

  # --- Noise (section 4.2).
  def noise_cell(family, dataset, mask_label, sit, example_index,
                 evaluation=None):
    d = t.delta(model_of(family, dataset), dataset, sit, evaluation)
    if d is None:
      return None
    kind = 'pixelcnn' if family == 'pixelcnn' else 'glow'
    example = NOISE_EXAMPLES[(kind, dataset)][example_index]
    extra = (mask_label,) + (('conditioned score',) if evaluation ==
                             'conditioned' else ())
    return _mean_cell(label(family, dataset, *extra), d[1],
                      lambda m, ci: _effect_verdict(m, ci, example / 2, +1),
                      paper=round(example, 3))

  families = ('glow_affine', 'glow_additive', 'pixelcnn')
  add('noise_all', '4.2, Fig. 3',
      'Gaussian noise, eps = 0.001 at the lower bin edge, "catastrophically" '
      'raises bits/dim.',
      'Fig. 3 examples, change of bits/dim: MNIST Glow +0.762, PixelCNN '
      '+2.184; FashionMNIST Glow +0.568, PixelCNN +1.163.',
      'mean change of bits/dim (continuous density of x + eps n)',
      [(f, d, 'everywhere', NOISE_ALL, 0) for f in families
       for d in datasets], noise_cell)
  add('noise_background', '4.2, Fig. 3',
      'The same noise on the background only (x < 0.3) does the same.',
      'Fig. 3 examples: MNIST Glow +1.011, PixelCNN +2.172; FashionMNIST '
      'Glow +0.695, PixelCNN +1.188.',
      'mean change of bits/dim',
      [(f, d, 'background', NOISE_BACKGROUND, 1) for f in families
       for d in datasets], noise_cell)
  add('noise_pixelcnn_conditioned', '4.2, Fig. 3',
      'The noise claim, with the PixelCNN scored as its network sees the '
      'noisy image (our second reading of "PixelCNN likelihood of a noisy '
      'image").',
      'As above.', 'mean change of the conditioned score',
      [('pixelcnn', d, m, s, i, 'conditioned') for d in datasets
       for m, s, i in (('everywhere', NOISE_ALL, 0),
                       ('background', NOISE_BACKGROUND, 1))], noise_cell)

  def variant_cell(family, dataset, variant_label, template, mask,
                   example_index):
    where = 'everywhere' if mask == 'all' else 'background'
    return noise_cell(family, dataset, f'{variant_label}, {where}',
                      template.format(mask=mask), example_index)

  add('noise_variants', '4.2',
      'eps (1/256 + N(0,1)) and eps U[-1/256, 0] give "similar results".',
      'No numbers; compared with the Gaussian examples above.',
      'mean change of bits/dim',
      [(f, d, vl, tpl, mask, i) for f in families for d in datasets
       for vl, tpl in NOISE_VARIANTS
       for mask, i in (('all', 0), ('background', 1))], variant_cell)

  def sensitivity_cell(family, dataset, mask_label, sit, evaluation):
    glow = t.delta(model_of('glow_affine', dataset), dataset, sit)
    pix = t.delta(model_of(family, dataset), dataset, sit, evaluation)
    if glow is None or pix is None:
      return None
    diff = _paired(pix, glow)
    return _mean_cell(
        f'PixelCNN{" (conditioned)" if evaluation == "conditioned" else ""} '
        f'minus affine Glow, {DATASET_LABEL[dataset]}, {mask_label}', diff,
        lambda m, ci: _comparison_verdict(ci))

  add('noise_pixelcnn_more_sensitive', '4.2, Fig. 3',
      'PixelCNN is more sensitive to the noise than Glow.',
      'Fig. 3: PixelCNN +1.16 to +2.18 against Glow +0.57 to +1.01.',
      'per-image change under PixelCNN minus change under the affine Glow, '
      'same images and noise',
      [('pixelcnn', d, ml, s, e) for d in datasets
       for ml, s in (('everywhere', NOISE_ALL),
                     ('background', NOISE_BACKGROUND))
       for e in ('continuous', 'conditioned')],
      lambda f, d, ml, s, e: (sensitivity_cell(f, d, ml, s, e)
                              if model_of('glow_affine', d) else None))

  def explanation_cell(family, dataset):
    centre = t.delta(model_of(family, dataset), dataset, NOISE_CENTRE)
    edge = t.delta(model_of(family, dataset), dataset, NOISE_ALL)
    if centre is None or edge is None:
      return None
    # If noise outside [0, 1/256) were the cause, noise kept inside each
    # bin (the clean image at the bin centre) would not raise bits/dim.
    return _mean_cell(label(family, dataset, 'noise at the bin centre'),
                      centre[1], lambda m, ci: _robust_verdict(ci))

  add('noise_explanation', '4.2',
      'Why: the noise\'s negative elements fall outside the training noise '
      '[0, 1/256), where the model was not optimised. Then noise kept inside '
      'each bin (image at the bin centre) would leave bits/dim unchanged.',
      'An explanation, no numbers.',
      'mean change of bits/dim under the same noise with the clean image at '
      'the bin centre (all noise inside the bin)',
      [(f, d) for f in families for d in datasets], explanation_cell)

  # --- Zeroing latents (section 4.3).
  def zero_cell(family, dataset, k, sit):
    d = t.delta(model_of(family, dataset), dataset, sit)
    if d is None:
      return None
    example = ZERO_EXAMPLES[dataset][k - 1]
    return _mean_cell(
        label(family, dataset, f'zero <= {k}',
              'quantised' if sit.endswith('quantised') else 'continuous'),
        d[1], lambda m, ci: _effect_verdict(m, ci, -example / 2, -1),
        paper=round(example, 3))

  add('zero_latents_gain', '4.3, Figs. 4-5',
      'Zeroing the first k factored-out latents and decoding lowers bits/dim '
      '(a "free likelihood loophole"), for affine and additive Glows.',
      'Fig. 5 (affine Glow), mean of two examples: MNIST -0.226 (k = 1), '
      '-0.281 (k = 2); FashionMNIST -0.394 / -0.409.',
      'mean change of bits/dim of the decoded image (continuous: as '
      'decoded; quantised: rounded to uint8 first)',
      [(f, d, k, s) for f in glows for d in datasets for k in (1, 2)
       for s in ZERO[k]], zero_cell)

  def first_factor_cell(family, dataset, sit1, sit2):
    one = t.delta(model_of(family, dataset), dataset, sit1)
    two = t.delta(model_of(family, dataset), dataset, sit2)
    if one is None or two is None:
      return None
    # Gain of the first factor (-delta1) minus the second's (delta1 - delta2).
    delta1, delta2 = _aligned(one, two)
    diff = delta2 - 2. * delta1
    return _mean_cell(label(family, dataset, 'gain of factor 1 minus gain '
                            'of factor 2'), diff,
                      lambda m, ci: _comparison_verdict(ci))

  add('zero_latents_first_factor', '4.3, Fig. 4',
      'Zeroing the first factor gives the largest gain; the second adds '
      'little.',
      'Fig. 5: the second factor adds 0.01-0.06 bits/dim after 0.21-0.44 '
      'from the first.',
      'per image, (bits/dim gained by zeroing factor 1) minus (gained by '
      'also zeroing factor 2), continuous',
      [(f, d, ZERO[1][0], ZERO[2][0]) for f in glows for d in datasets],
      first_factor_cell)

  # --- Conclusion: likelihood as an OoD score.
  def ood_cell(family, dataset):
    name = model_of(family, dataset)
    other = 'mnist' if dataset == 'fashion_mnist' else 'fashion_mnist'
    own_idx = t.rows(name, dataset, SHIFTS[0][1])
    ood_idx = t.rows(name, other, SHIFTS[0][1])
    if own_idx is None or ood_idx is None:
      return None
    neg = t.column('bpd_before', own_idx)
    pos = t.column('bpd_before', ood_idx)
    ci = _auroc_ci(neg, pos)
    value = statistics.auroc(neg, pos)
    verdict = AGREES if ci[1] < 0.5 else (DISAGREES if ci[0] > 0.5
                                          else PARTLY)
    return Cell(label(family, dataset, f'vs {DATASET_LABEL[other]}'), value,
                ci, verdict, None, int(neg.size + pos.size))

  add('ood_fashion_mnist', '1, 5',
      'Likelihood is an unreliable OoD score: models of FashionMNIST give '
      'MNIST digits higher likelihood.',
      'Stated from prior work; no numbers.',
      'AUROC of bits/dim telling own test images (negatives) from the other '
      'set (positives); below 0.5 the OoD set looks more likely',
      [(f, 'fashion_mnist') for f in families], ood_cell)
  return claims


def table1(table, models):
  """The paper's Table 1 (classifier accuracy under each SIT), row by row.

  Accuracies come from the classifier columns of the per-image table:
  translation and noise give every model the same images (the affine
  Glow's rows are used when present, else another model's rows of the data
  set); zeroing is the affine Glow's, as in the paper's Glow figures.

  Returns:
    `list` of `Table1Row`, MNIST rows then FashionMNIST rows.
  """
  t = _Table(table)
  by_role = {(fam, ds): name for name, (fam, ds) in models.items()}
  rows = []
  for dataset, col in (('mnist', 2), ('fashion_mnist', 3)):
    affine = by_role.get(('glow_affine', dataset))
    for spec in TABLE1:
      perturbation, sit, paper = spec[0], spec[1], spec[col]
      # Translation and noise give every model the same images; prefer the
      # affine Glow's rows, else any model's rows of this data set.
      if sit and sit.startswith('zero_latents'):
        candidates = [affine] if affine else []
      else:
        candidates = [affine] * bool(affine) + sorted(models)
      pred = labels = None
      for name in candidates:
        idx = t.rows(name, dataset, sit or SHIFTS[0][1])
        if idx is None:
          continue
        pred = t.column('classifier_pred_after' if sit else
                        'classifier_pred_before', idx)
        # Images the SIT failed on (a decoder overflow: NaN bits/dim) have
        # no prediction (-1) and are left out, as in every other statistic.
        valid = pred >= 0
        if valid.any():
          pred, labels = pred[valid], t.column('label', idx)[valid]
          break
        pred = None
      if labels is None:
        rows.append(Table1Row(perturbation, dataset, paper, None, None,
                              NOT_MEASURED))
        continue
      correct = (pred == labels).astype(np.float64) * 100.
      ours = float(correct.mean())
      ci = statistics.bootstrap_mean_ci(correct, num_resamples=NUM_BOOTSTRAP)
      gap = abs(ours - paper)
      verdict = (AGREES if gap <= TABLE1_AGREE_PP else
                 PARTLY if gap <= TABLE1_PARTLY_PP else DISAGREES)
      rows.append(Table1Row(perturbation, dataset, paper, ours, ci, verdict,
                            int(correct.size)))
  return rows
