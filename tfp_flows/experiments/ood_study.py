"""OoD scores and how semantic-invariant transformations move them.

For each in-distribution model (with an optional likelihood-ratio
background model) this job:

1. draws a seeded, class-stratified sample of its test set, the same size
   from the other real data set, and builds the synthetic OoD sets
   (constant, uniform noise, and the in-distribution sample inverted and
   flipped upside down);
2. scores every image once per model: bits/dim (discrete, or continuous for
   a continuous SIT), each Glow level's bits/dim, the background model's
   bits/dim, and PNG / zlib compressed bits/dim;
3. derives every OoD score from those (`SCORES`; higher = more OoD);
4. reports AUROC, AUPR and FPR at 95% TPR with bootstrap intervals for each
   score and OoD set, and, for each SIT applied to the in-distribution
   images (and to both sets), the AUROC and how many in/out decisions flip
   at the threshold that keeps 95% of the clean in-distribution images.

`run` writes `ood_results.json` and `OOD.md` (tables) into an output
directory; `bin/evaluate_ood` is its command line.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from tfp_flows import data
from tfp_flows import models
from tfp_flows.analysis import figures
from tfp_flows.analysis import sampling
from tfp_flows.analysis import scoring
from tfp_flows.data import synthetic
from tfp_flows.models import evaluation
from tfp_flows.models import glow_levels
from tfp_flows.ood import complexity
from tfp_flows.ood import guidance
from tfp_flows.ood import levels
from tfp_flows.ood import likelihood_ratio
from tfp_flows.ood import metrics
from tfp_flows.ood import typicality
from tfp_flows.sits import base as sits_base
from tfp_flows.sits import presets
from tfp_flows.utils import atomic
from tfp_flows.utils.validation import positive_int

__all__ = ['DEFAULT_SITS', 'SCORES', 'TYPICALITY_BATCH_SIZES', 'ModelEntry',
           'check_scores', 'evaluate_model', 'run', 'score_names_for']

# The SITs of the robustness study: 1- and 2-pixel shifts, discrete noise of
# +-1, +-2, +-4 grey levels, the paper's continuous noise at the bin edge,
# and zeroing the first one and two latent factors of a Glow (as images,
# quantised, so every score applies).
DEFAULT_SITS = (
    'translate_dx-1_dy0_zeros', 'translate_dx-2_dy0_zeros',
    'discrete_noise_k1_all', 'discrete_noise_k2_all', 'discrete_noise_k4_all',
    'noise_normal_eps0.001_all_edge',
    'zero_latents_k1_quantised', 'zero_latents_k2_quantised')

TYPICALITY_BATCH_SIZES = (1, 2, 5, 10)

# Every score, and what it needs beyond the model's bits/dim.
SCORES = {
    'likelihood': 'bits/dim under the model',
    'input_complexity_png': 'bits/dim minus PNG bits/dim (Serra et al.)',
    'input_complexity_zlib': 'bits/dim minus zlib bits/dim',
    'likelihood_ratio': 'bits/dim minus the background model\'s (Ren et '
                        'al.); needs a background model',
    **{f'typicality_m{m}': f'|mean bits/dim of {m} images - entropy| '
                           '(Nalisnick et al.); batch-level'
       for m in TYPICALITY_BATCH_SIZES},
    'level_k': 'each Glow level\'s bits/dim (level_1 finest); Glow only',
    'coarsest_minus_finest': 'coarsest minus finest level bits/dim '
                             '(Schirrmeister et al.); Glow only',
}

FIGURE = 'ood_auroc_by_sit.png'
# Threshold of the flip count: the clean in-distribution images kept.
KEEP = 0.95
# Training images behind the typicality test's entropy estimate.
NUM_ENTROPY_IMAGES = 2000


@dataclasses.dataclass(frozen=True)
class ModelEntry:
  """One in-distribution model of the study.

  Attributes:
    model_dir: its `bin/train` (or shipped checkpoint) directory.
    background_dir: optional background model directory (likelihood ratio).
    sit_glow_dir: optional Glow of the same data set that the zero-latents
      SITs run on when the model is not a Glow itself.
  """
  model_dir: str
  background_dir: str = None
  sit_glow_dir: str = None


def check_scores(names):
  """`names` as a tuple, each a key of `SCORES` or `level_<k>`; ValueError
  naming the unknown ones otherwise."""
  names = tuple(names)
  unknown = [n for n in names if n not in SCORES and not (
      n.startswith('level_') and n[6:].isdigit() and int(n[6:]) >= 1)]
  if unknown:
    raise ValueError(f'Unknown OoD score(s) {", ".join(unknown)}; known: '
                     f'{", ".join(SCORES)} (level_k as level_1, level_2, ...).')
  if not names:
    raise ValueError('Give at least one OoD score.')
  return names


def score_names_for(model, has_background, num_levels=None):
  """The scores that apply to `model` (all of `SCORES` a model allows)."""
  names = ['likelihood', 'input_complexity_png', 'input_complexity_zlib']
  if has_background:
    names.append('likelihood_ratio')
  names += [f'typicality_m{m}' for m in TYPICALITY_BATCH_SIZES]
  if num_levels:
    names += [f'level_{l + 1}' for l in range(num_levels)]
    if num_levels >= 2:
      names.append('coarsest_minus_finest')
  return names


def _num_levels(model):
  return getattr(model, 'num_levels', None) if hasattr(
      model, 'encode') else None


# ----------------------------------------------------------------- scoring


def _quantised(y, offset):
  """Grey levels of continuous images `y` for the compressors.

  `offset` is where the SIT put each clean grey level inside its bin
  (`y = (x + offset) / 256` before its change; `sits.base.PLACEMENTS`): the
  nearest level to `y * 256 - offset` is `x` again for any change under
  half a grey level. (Taking the bin, `floor(256 y)`, would move every
  level at the bin's lower edge down by one under any negative noise.)
  """
  return np.clip(np.rint(sits_base.from_continuous(y, offset)), 0,
                 sits_base.NUM_LEVELS - 1).astype(np.uint8)


def _bits_per_dim(model, images, kind, seed, batch_size):
  if kind == 'discrete':
    return evaluation.evaluate_bits_per_dim(model, images, batch_size, seed)
  return scoring.continuous_bits_per_dim(model, images, batch_size)[0]


def _measure(model, background, images, kind, seed, batch_size,
             offset=sits_base.CONTINUOUS_OFFSET):
  """Per-image quantities every score is built from (one pass per model).

  A Glow's bits/dim is the dimension-weighted mean of its levels' bits/dim
  (the levels sum to its log-likelihood, same dequantisation seeds as
  `evaluate_bits_per_dim`), so a Glow scores each image once. `offset`:
  where continuous images put a clean grey level in its bin (`SIT.offset`,
  `_quantised`); unused for discrete images.
  """
  out = {}
  if _num_levels(model):
    out['level_bpd'] = (
        levels.level_bits_per_dim(model, images, seed, batch_size)
        if kind == 'discrete' else
        levels.continuous_level_bits_per_dim(model, images, batch_size))
    dims = np.asarray(glow_levels.level_dimensions(model), np.float64)
    out['bpd'] = out['level_bpd'] @ dims / model.num_subpixels
  else:
    out['bpd'] = _bits_per_dim(model, images, kind, seed, batch_size)
  if background is not None:
    out['background_bpd'] = _bits_per_dim(background, images, kind, seed,
                                          batch_size)
  grey = images if kind == 'discrete' else _quantised(images, offset)
  for compressor in ('png', 'zlib'):
    out[f'{compressor}_bpd'] = complexity.compressed_bits_per_dim(grey,
                                                                  compressor)
  return out


def _scores(measured, names, entropy, seed):
  """Score arrays (per image, or per batch for typicality) by name."""
  bpd = measured['bpd']
  out = {}
  level_scores = (levels.levelwise_scores(measured['level_bpd'])
                  if 'level_bpd' in measured else {})
  for name in names:
    if name == 'likelihood':
      out[name] = bpd
    elif name.startswith('input_complexity_'):
      out[name] = bpd - measured[name.rsplit('_', 1)[1] + '_bpd']
    elif name == 'likelihood_ratio':
      out[name] = likelihood_ratio.likelihood_ratio(
          bpd, measured['background_bpd'])
    elif name.startswith('typicality_m'):
      out[name] = typicality.typicality_scores(
          bpd, int(name[len('typicality_m'):]), entropy, seed=seed)
    else:
      out[name] = level_scores[name]
  return out


# ----------------------------------------------------------------- image sets


def _sample(name, num_images, seed):
  images, labels = data.load(name, 'test')
  index = sampling.stratified_indices(labels, num_images, seed)
  return images[index], index


def _ood_sets(own, clean, num_images, seed):
  """The OoD image sets of a model trained on `own`, `num_images` each."""
  other = data.ood_dataset_for(own)
  return {
      other: _sample(other, num_images, seed)[0],
      'constant': data.load('constant', 'test', seed=seed,
                            num_examples=num_images)[0],
      'uniform_noise': data.load('uniform_noise', 'test', seed=seed,
                                 num_examples=num_images)[0],
      f'{own}_inverted': synthetic.invert_images(clean),
      f'{own}_vflip': synthetic.vflip_images(clean),
  }


def _entropy(model, own, num_images, seed, batch_size):
  """The typicality test's entropy estimate: mean bits/dim of a seeded,
  class-stratified sample of the training split (the model's own data)."""
  images, labels = data.load(own, 'train')
  index = sampling.stratified_indices(labels, num_images, seed)
  return typicality.entropy_estimate(evaluation.evaluate_bits_per_dim(
      model, images[index], batch_size, seed))


# ----------------------------------------------------------------- metrics


def _metric_row(neg, pos, num_resamples, seed):
  return metrics.detection_metrics(neg, pos, num_resamples=num_resamples,
                                   seed=seed).as_dict()


def evaluate_model(entry, num_images=2000, sits=DEFAULT_SITS, scores=None,
                   seed=0, batch_size=256, num_resamples=1000, log=print,
                   num_entropy_images=NUM_ENTROPY_IMAGES):
  """The OoD study of one in-distribution model.

  Args:
    entry: a `ModelEntry`.
    num_images: Python `int`, images per set (in-distribution sample, each
      OoD set).
    sits: SIT names (`sits.presets.get`); a SIT that does not apply (zeroing
      latents without a Glow) is skipped and listed.
    scores: score names (`check_scores`), or `None` for every score that
      applies to the model.
    seed: Python `int`: samples, dequantisation, SIT noise, bootstrap.
    batch_size: images per model call.
    num_resamples: bootstrap resamples of each interval.
    log: callable for progress lines.
    num_entropy_images: training images behind the entropy estimate.

  Returns:
    A JSON-ready `dict` (see `run`).
  """
  num_images = positive_int(num_images, 'num_images')
  model = models.load(entry.model_dir)
  background = None
  if entry.background_dir is not None:
    background = models.load(entry.background_dir)
    likelihood_ratio.check_background(model, background)
  allowed = score_names_for(model, background is not None,
                            _num_levels(model))
  names = allowed if scores is None else list(check_scores(scores))
  missing = [n for n in names if n not in allowed]
  if missing:
    raise ValueError(f'Score(s) {", ".join(missing)} do not apply to '
                     f'{entry.model_dir!r} (it allows {", ".join(allowed)}).')
  own = model.training_dataset
  sit_flow = model if _num_levels(model) else _sit_glow(entry.sit_glow_dir,
                                                        own)
  start = time.perf_counter()
  clean, index = _sample(own, num_images, seed)
  ood = _ood_sets(own, clean, num_images, seed)
  real_ood = data.ood_dataset_for(own)
  entropy = _entropy(model, own, num_entropy_images, seed, batch_size)

  def measure_and_score(images, kind, offset=sits_base.CONTINUOUS_OFFSET):
    return _scores(_measure(model, background, images, kind, seed,
                            batch_size, offset), names, entropy, seed)

  log(f'{entry.model_dir}: scoring {own} and {len(ood)} OoD sets '
      f'({num_images} images each)')
  clean_scores = measure_and_score(clean, 'discrete')
  ood_scores = {name: measure_and_score(images, 'discrete')
                for name, images in ood.items()}
  detection = {
      score: {name: _metric_row(clean_scores[score], ood_scores[name][score],
                                num_resamples, seed)
              for name in ood}
      for score in names}

  # One decision threshold per score, from every clean in-distribution
  # image: it must not move with the images a SIT fails on.
  thresholds = {score: metrics.keep_threshold(clean_scores[score], KEEP)
                for score in names}
  robustness, skipped = {}, []
  for sit_name in sits:
    sit = presets.get(sit_name)
    if sit.needs_flow and (sit_flow is None or not sit.applies_to(sit_flow)):
      skipped.append(sit_name)
      continue
    log(f'  {sit_name}')
    # A Glow's decoder can overflow on zeroed latents: such images are
    # scored (as placeholders) but left out of every number below.
    moved_in, valid_in = sit.transform(clean, seed=seed, indices=index,
                                       model=sit_flow, batch_size=batch_size)
    moved_ood, valid_ood = sit.transform(ood[real_ood], seed=seed + 1,
                                         model=sit_flow,
                                         batch_size=batch_size)
    in_scores = measure_and_score(moved_in, sit.kind, sit.offset)
    both_scores = measure_and_score(moved_ood, sit.kind, sit.offset)
    robustness[sit_name] = {}
    for score in names:
      keep_in = _valid_units(score, valid_in, seed)
      keep_ood = _valid_units(score, valid_ood, seed)
      row = _robustness_row(
          thresholds[score], clean_scores[score][keep_in],
          in_scores[score][keep_in],
          ood_scores[real_ood][score], ood_scores[real_ood][score][keep_ood],
          both_scores[score][keep_ood], num_resamples, seed)
      row['auroc_in_moved_by_set'] = {
          name: (metrics.auroc(in_scores[score][keep_in], scores[score])
                 if keep_in.any() else None)
          for name, scores in ood_scores.items()}
      row['num_failed'] = dict(in_distribution=int(np.sum(~valid_in)),
                               ood=int(np.sum(~valid_ood)))
      robustness[sit_name][score] = row
  return dict(
      model_dir=entry.model_dir, background_dir=entry.background_dir,
      sit_glow_dir=entry.sit_glow_dir if sit_flow is not model else None,
      model=type(model).__name__, dataset=own, real_ood=real_ood,
      num_images=num_images, entropy_bits_per_dim=entropy, scores=names,
      detection=detection, robustness=robustness, skipped_sits=skipped,
      seconds=time.perf_counter() - start)


def _sit_glow(sit_glow_dir, dataset):
  """The Glow that zero-latents SITs run on for a model that is not one."""
  if sit_glow_dir is None:
    return None
  glow = models.load(sit_glow_dir)
  if not _num_levels(glow):
    raise ValueError(f'The SIT Glow {sit_glow_dir!r} is a '
                     f'{type(glow).__name__}, not a Glow.')
  if glow.training_dataset != dataset:
    raise ValueError(f'The SIT Glow {sit_glow_dir!r} was trained on '
                     f'{glow.training_dataset}, the model on {dataset}.')
  return glow


def _valid_units(score, valid, seed):
  """Which entries of a score array to keep: the images a SIT could
  transform, or for a batch-level (typicality) score the batches whose
  images it could all transform (same partition as the score's)."""
  if not score.startswith('typicality_m'):
    return valid
  batches = typicality.typicality_batches(
      valid.size, int(score[len('typicality_m'):]), seed)
  return valid[batches].all(axis=1)


def _robustness_row(threshold, clean_in, moved_in, ood_clean,
                    ood_clean_kept, moved_ood, num_resamples, seed):
  """AUROC with the SIT on the in-distribution images (an interval against
  the real OoD set) and with it on both, and the decision flips of both
  sets' images at `threshold` (the one keeping `KEEP` of all clean
  in-distribution images). Arrays hold the images (or batches) the SIT
  could transform; `clean_in` pairs with `moved_in`, `ood_clean_kept` with
  `moved_ood`. A number that needs an empty array is None."""
  # A zeroing SIT can fail on every image of a set (a Glow's decoder
  # overflowing on the other data set's latents): the numbers that need
  # those images are None ("n/a" in the report), the others stand.
  row = dict(flips=None, ood_flips=None, auroc_in_moved=None,
             auroc_both_moved=None)
  if len(moved_in):
    row['flips'] = metrics.flips_at(clean_in, moved_in, threshold)._asdict()
    row['auroc_in_moved'] = _metric_row(moved_in, ood_clean, num_resamples,
                                        seed)['auroc']
  if len(moved_ood):
    # The OoD images' decisions at the same threshold, before and after the
    # SIT moved them too.
    ood_flips = metrics.flips_at(ood_clean_kept, moved_ood, threshold)
    row['ood_flips'] = {k: v for k, v in ood_flips._asdict().items()
                        if k != 'threshold'}
    if len(moved_in):
      row['auroc_both_moved'] = _metric_row(moved_in, moved_ood,
                                            num_resamples, seed)['auroc']
  return row


# ----------------------------------------------------------------- the job


def run(entries, output_dir, num_images=2000, sits=DEFAULT_SITS, scores=None,
        seed=0, batch_size=256, num_resamples=1000, log=print,
        num_entropy_images=NUM_ENTROPY_IMAGES):
  """Runs the OoD study for each `ModelEntry`; writes results and report.

  Writes `output_dir/ood_results.json` (every number), `FIGURE` (AUROC per
  score per SIT, one panel per model) and `output_dir/OOD.md` (tables),
  each atomically, after all models are done, so a failed run leaves no
  partial result.

  Returns:
    The results `dict`: `settings` and one entry per model under `models`.
  """
  start = time.perf_counter()
  results = dict(
      settings=dict(num_images=num_images, sits=list(sits), seed=seed,
                    num_entropy_images=num_entropy_images,
                    num_resamples=num_resamples, keep=KEEP,
                    typicality_batch_sizes=list(TYPICALITY_BATCH_SIZES)),
      models=[evaluate_model(e, num_images, sits, scores, seed, batch_size,
                             num_resamples, log, num_entropy_images)
              for e in entries])
  results['settings']['seconds'] = time.perf_counter() - start
  os.makedirs(output_dir, exist_ok=True)
  # Keys keep their order (no sort_keys): the report's tables follow it, so
  # `report(json.load(...))` re-renders this very page.
  atomic.atomic_write_text(os.path.join(output_dir, 'ood_results.json'),
                           json.dumps(results, indent=1,
                                      default=_json_default) + '\n')
  figures.write_ood_auroc_figure(results,
                                 os.path.join(output_dir, FIGURE))
  atomic.atomic_write_text(os.path.join(output_dir, 'OOD.md'),
                           report(results))
  return results


def shown_path(path):
  """`path` relative to the repository if it lies inside it, else as is
  (a committed report must not name the machine it ran on)."""
  if not path:
    return path
  relative = os.path.relpath(os.path.abspath(path), _REPO)
  return path if relative.startswith('..') else relative


def _json_default(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  raise TypeError(f'{type(value).__name__} is not JSON serialisable')


def _flips(f):
  if f is None:
    return 'n/a (no image transformed)'
  return (f'{100 * f["flip_fraction"]:.1f}% ({100 * f["in_to_out"]:.1f}%, '
          f'{100 * f["out_to_in"]:.1f}%)')


def report(results):
  """The markdown tables of a results `dict` (see `run`)."""
  s = results['settings']
  lines = [
      '# OoD scores under semantic-invariant transformations', '',
      f'{s["num_images"]} images per set (class-stratified, seed {s["seed"]}'
      f'); 95% percentile-bootstrap intervals ({s["num_resamples"]} '
      'resamples); higher score = more OoD, in-distribution = negatives. '
      f'Decision flips at the threshold keeping {100 * s["keep"]:.0f}% of the '
      f'clean in-distribution images. Total time {s["seconds"] / 60:.1f} '
      'min.', '', f'![AUROC per score per SIT]({FIGURE})', '']
  lines += guidance.render_guidance(results)
  lines += ['## Tables', '']
  for m in results['models']:
    sets = list(next(iter(m['detection'].values())))
    lines += [f'### {shown_path(m["model_dir"])} ({m["model"]}, '
              f'{m["dataset"]})', '',
              f'Entropy estimate (training images): '
              f'{m["entropy_bits_per_dim"]:.3f} bits/dim; background: '
              f'{shown_path(m["background_dir"]) or "none"}; '
              f'{m["seconds"] / 60:.1f} min.', '']
    for metric, title in (('auroc', 'AUROC'), ('aupr', 'AUPR'),
                          ('fpr_at_tpr', 'FPR at 95% TPR (lower is better)')):
      lines += [f'#### {title} by OoD set', '',
                '| score | ' + ' | '.join(sets) + ' |',
                '|---|' + '---|' * len(sets)]
      for score, row in m['detection'].items():
        lines.append(f'| {score} | ' + ' | '.join(
            guidance.format_interval(row[name][metric]) for name in sets)
            + ' |')
      lines.append('')
    if m['robustness']:
      lines += [f'#### SITs: AUROC against {m["real_ood"]} (clean, SIT '
                'on in-distribution, SIT on both) and decision flips', '',
                '| score | SIT | clean | SIT on in | SIT on both | flips of '
                'in-distribution images (in->out, out->in) | flips of OoD '
                'images (in->out, out->in) | failed (in, OoD) |',
                '|---|---|---|---|---|---|---|---|']
      for sit in s['sits']:
        for score, r in m['robustness'].get(sit, {}).items():
          clean = m['detection'][score][m['real_ood']]['auroc']['value']
          lines.append(
              f'| {score} | {sit} | {clean:.3f} | '
              f'{guidance.format_interval(r["auroc_in_moved"])} | '
              f'{guidance.format_interval(r["auroc_both_moved"])} | '
              f'{_flips(r["flips"])} | {_flips(r["ood_flips"])} | '
              f'{r["num_failed"]["in_distribution"]}, '
              f'{r["num_failed"]["ood"]} |')
    if m['skipped_sits']:
      lines += ['', 'Skipped (no Glow to run them on): '
                + ', '.join(m['skipped_sits']) + '.']
    lines.append('')
  return '\n'.join(lines) + '\n'


# ----------------------------------------------------------------- command line

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# The shipped in-distribution models of the default run; a background model
# ships as `<name>_background`, and the zero-latents SITs of a PixelCNN run
# on the affine paper Glow of its data set.
DEFAULT_MODELS = ('pixelcnn_fashion_mnist', 'pixelcnn_mnist',
                  'paper_glow_affine_fashion_mnist', 'paper_glow_affine_mnist')


def default_entries(checkpoints_dir, names=DEFAULT_MODELS):
  """`ModelEntry`s of the shipped models present in `checkpoints_dir`."""
  entries = []
  for name in names:
    path = os.path.join(checkpoints_dir, name)
    if not os.path.isdir(path):
      continue
    background = os.path.join(checkpoints_dir, name + '_background')
    dataset = name.split('_', 1)[1] if name.startswith('pixelcnn_') else None
    glow = (os.path.join(checkpoints_dir, f'paper_glow_affine_{dataset}')
            if dataset else None)
    entries.append(ModelEntry(
        path, background if os.path.isdir(background) else None,
        glow if glow and os.path.isdir(glow) else None))
  return entries


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog='bin/evaluate_ood', description=__doc__.split('\n\n')[0])
  parser.add_argument(
      '--model', action='append', default=[], metavar='DIR[:BACKGROUND_DIR]',
      help='an in-distribution model directory, optionally with its '
      'likelihood-ratio background model (repeatable; default: the shipped '
      f'models {", ".join(DEFAULT_MODELS)} with their backgrounds)')
  parser.add_argument('--sit_glow', default=None, metavar='DIR',
                      help='Glow that zero-latents SITs run on for --model '
                      'entries that are not Glows')
  parser.add_argument('--checkpoints_dir',
                      default=os.path.join(_REPO, 'checkpoints'))
  parser.add_argument('--output_dir',
                      default=os.path.join(_REPO, 'results', 'ood'))
  parser.add_argument('--num_images', type=int, default=2000,
                      help='images per set (in-distribution and each OoD set)')
  parser.add_argument('--sits', default=','.join(DEFAULT_SITS),
                      help='comma-separated SIT names ("" for none)')
  parser.add_argument('--scores', default=None,
                      help='comma-separated score names (default: all that '
                      f'apply; known: {", ".join(SCORES)})')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--num_resamples', type=int, default=1000)
  return parser.parse_args(argv)


def _entries_from_args(args):
  if not args.model:
    entries = default_entries(args.checkpoints_dir)
    if not entries:
      raise ValueError(f'no shipped model in {args.checkpoints_dir!r}; give '
                       '--model=DIR')
    return entries
  entries = []
  for spec in args.model:
    model_dir, _, background = spec.partition(':')
    for path in filter(None, (model_dir, background, args.sit_glow)):
      if not os.path.isdir(path):
        raise ValueError(f'model directory {path!r} does not exist')
    entries.append(ModelEntry(model_dir, background or None, args.sit_glow))
  return entries


def main(argv=None):
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  try:
    sits = tuple(filter(None, args.sits.split(',')))
    for name in sits:
      presets.get(name)
    scores = (None if args.scores is None else
              check_scores(filter(None, args.scores.split(','))))
    results = run(_entries_from_args(args), args.output_dir, args.num_images,
                  sits, scores, args.seed, num_resamples=args.num_resamples)
  except (ValueError, TypeError, FileNotFoundError) as e:
    text = str(e).strip().splitlines()
    print(f'bin/evaluate_ood: error: {text[0] if text else type(e).__name__}',
          file=sys.stderr)
    sys.exit(2)
  print(f'OoD study done in {results["settings"]["seconds"] / 60:.1f} min: '
        f'{os.path.join(args.output_dir, "OOD.md")}')


if __name__ == '__main__':
  main()
