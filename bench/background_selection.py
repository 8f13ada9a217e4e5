#!/usr/bin/env python
"""Chooses the background model's mutation rate and L2 weight without OoD data.

The likelihood-ratio score (`tfp_flows.ood.likelihood_ratio`) needs a
background model trained on mutated images (`train.mutation_rate`,
`train.l2_weight`). Its two settings must be chosen without looking at the
real OoD set (the other MNIST-like data set), so this script scores each
candidate against *synthetic* OoD sets built from the model's own test
images only:

* `<own>_vflip`: the sample flipped upside down (same pixel statistics,
  wrong global structure: what a background model should cancel towards);
* `<own>_inverted`: `255 - x` (wrong low-level statistics).

For each (mutation rate, L2 weight) in the grid it trains a short background
run with `bin/train` from the model's own config (same architecture and
schedule shape, `train.num_steps` = `train.decay_steps` = `--steps`), two
runs at a time, each pinned to one core; then it scores a seeded,
class-stratified sample of the test set and both synthetic sets under the
model and every background, and reports the likelihood-ratio AUROC (95%
bootstrap interval) per set. The rule: **the candidate with the highest mean
AUROC over the two synthetic sets wins** (ties: the lower mutation rate, then
the lower L2 weight).

  .venv/bin/python bench/background_selection.py --dataset=fashion_mnist \
      [--steps=1000] [--rates=0.1,0.2,0.3] [--l2_weights=0,1e-4] \
      [--grid=0.1:0,0.2:0,...] [--num_images=2000]

Runs live in `runs/background_selection/<dataset>_mu<rate>_l2<weight>`
(resumed if present). Writes bench/results/background_selection_<dataset>
.json and .md atomically, when everything is done.

Diagnosis after the choice (`--diagnostic_dataset=mnist`, with
`--output_name` so that the selection's own record stays as it was): the
same table gains the ratio's AUROC against the other real data set and the
mean bits/dim of both sets under each background. The rule never reads
those columns; they show whether it picked what the real OoD set would
have, and why the ratio fails where it does. `--extra_backgrounds` scores
already trained backgrounds (e.g. the shipped one) beside the grid, without
training them.
"""

import argparse
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

SELECTION_SETS = ('vflip', 'inverted')


def candidate_name(dataset, rate, l2_weight):
  return f'{dataset}_mu{rate:g}_l2{l2_weight:g}'


def default_output_name(dataset, model_dir):
  """`background_selection_<dataset>` for the dataset's PixelCNN, else
  `background_selection_<model directory name>`, so that selecting for
  another model never overwrites the PixelCNN's record."""
  name = os.path.basename(os.path.normpath(model_dir))
  if name == f'pixelcnn_{dataset}':
    return f'background_selection_{dataset}'
  return f'background_selection_{name}'


def parse_grid(rates, l2_weights, grid):
  """The (rate, l2) candidates: `grid` ('0.1:0,0.2:1e-4') or the product.

  `grid='none'` trains nothing (only --extra_backgrounds are scored).
  """
  if grid == 'none':
    return []
  if grid:
    pairs = []
    for item in grid.split(','):
      rate, _, l2 = item.partition(':')
      pairs.append((float(rate), float(l2 or 0.)))
    return pairs
  return [(float(r), float(w)) for r in rates.split(',')
          for w in l2_weights.split(',')]


def train_candidates(config, candidates, runs_dir, steps, dataset, cores=2,
                     log=print):
  """Trains every candidate with bin/train, `cores` at a time (one each).

  Returns {name: (model_dir, wall seconds of its bin/train)}.
  """
  # Checked before any run starts: a bad grid is one line, not a half grid.
  from tfp_flows.training import steps as steps_lib  # pylint: disable=g-import-not-at-top
  for rate, l2 in candidates:
    steps_lib.check_regularisers(rate, l2)
  pending = list(candidates)
  running = {}
  done = {}
  os.makedirs(os.path.join(runs_dir, 'logs'), exist_ok=True)
  while pending or running:
    while pending and len(running) < cores:
      rate, l2 = pending.pop(0)
      name = candidate_name(dataset, rate, l2)
      core = next(c for c in range(cores)
                  if c not in [v[2] for v in running.values()])
      model_dir = os.path.join(runs_dir, name)
      cmd = [sys.executable, os.path.join(REPO, 'bin', 'train'),
             f'--gin_file={config}', f'--model_dir={model_dir}',
             f'--gin_param=train.num_steps={steps}',
             f'--gin_param=train.decay_steps={steps}',
             f'--gin_param=train.eval_every={steps}',
             # The trainer's evaluation must not score the other real data
             # set either: its OoD set here is synthetic noise.
             "--gin_param=train.ood_dataset='uniform_noise'",
             f'--gin_param=train.mutation_rate={rate}',
             f'--gin_param=train.l2_weight={l2}']
      if cores > 1:
        cmd = ['taskset', '-c', str(core)] + cmd
      log_file = open(os.path.join(runs_dir, 'logs', name + '.log'), 'a')
      proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                              cwd=REPO)
      running[name] = (proc, model_dir, core, time.perf_counter(), log_file)
      # With one core nothing is pinned: the run inherits this process's
      # affinity (e.g. `taskset -c 1 python bench/background_selection.py`).
      where = f' on core {core}' if cores > 1 else ''
      log(f'training {name}{where} ({steps} steps)')
    time.sleep(2)
    for name in list(running):
      proc, model_dir, _, start, log_file = running[name]
      if proc.poll() is None:
        continue
      log_file.close()
      del running[name]
      if proc.returncode:
        for other in running.values():
          other[0].terminate()
        raise RuntimeError(f'bin/train for {name} exited with '
                           f'{proc.returncode}; see {log_file.name}')
      done[name] = (model_dir, time.perf_counter() - start)
      log(f'{name} done in {done[name][1] / 60:.1f} min')
  return done


def score_candidates(model_dir, backgrounds, dataset, num_images, seed=0,
                     num_resamples=1000, batch_size=256,
                     diagnostic_dataset=None):
  """Likelihood-ratio AUROC of each background on the selection sets.

  Args:
    model_dir: the in-distribution model's directory.
    backgrounds: {name: background model dir}.
    dataset: the model's own data set.
    num_images: test images in the sample (each synthetic set is built from
      the same images).
    diagnostic_dataset: optional name of a real OoD data set (a seeded,
      class-stratified sample of `num_images` of its test images), scored
      for the diagnosis only: its AUROC goes to `diagnostic_auroc`, never
      into `mean_auroc`.

  Returns:
    {name: {'background_test_bits_per_dim': float, 'auroc': {set: Interval
    dict}, 'mean_auroc': float, 'background_bits_per_dim': {set: mean
    bits/dim}, and with a diagnostic set 'diagnostic_auroc': Interval
    dict}}, and {set: the model's mean bits/dim}.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tfp_flows import data, models  # pylint: disable=g-import-not-at-top
  from tfp_flows.analysis import sampling  # pylint: disable=g-import-not-at-top
  from tfp_flows.data import synthetic  # pylint: disable=g-import-not-at-top
  from tfp_flows.models import evaluation  # pylint: disable=g-import-not-at-top
  from tfp_flows.ood import likelihood_ratio, metrics  # pylint: disable=g-import-not-at-top

  images, labels = data.load(dataset, 'test')
  clean = images[sampling.stratified_indices(labels, num_images, seed)]
  sets = {'clean': clean, 'vflip': synthetic.vflip_images(clean),
          'inverted': synthetic.invert_images(clean)}
  if diagnostic_dataset:
    if diagnostic_dataset == dataset:
      raise ValueError(f'The diagnostic data set must be another data set '
                       f'than the model\'s own ({dataset}).')
    ood_images, ood_labels = data.load(diagnostic_dataset, 'test')
    sets[diagnostic_dataset] = ood_images[
        sampling.stratified_indices(ood_labels, num_images, seed)]

  def bits(model):
    return {k: evaluation.evaluate_bits_per_dim(model, v, batch_size, seed)
            for k, v in sets.items()}

  model = models.load(model_dir)
  model_bpd = bits(model)
  results = {}
  for name, bg_dir in backgrounds.items():
    background = models.load(bg_dir)
    likelihood_ratio.check_background(model, background)
    bg_bpd = bits(background)
    ratio = {k: likelihood_ratio.likelihood_ratio(model_bpd[k], bg_bpd[k])
             for k in sets}
    def auroc_against(k):
      return metrics.detection_metrics(
          ratio['clean'], ratio[k], num_resamples=num_resamples,
          seed=seed).as_dict()['auroc']

    auroc = {k: auroc_against(k) for k in SELECTION_SETS}
    results[name] = dict(
        mutation_rate=background.training_options['mutation_rate'],
        l2_weight=background.training_options['l2_weight'],
        checkpoint=os.path.basename(background.checkpoint_path),
        background_test_bits_per_dim=float(np.mean(bg_bpd['clean'])),
        background_bits_per_dim={k: float(np.mean(v))
                                 for k, v in bg_bpd.items()},
        auroc=auroc,
        mean_auroc=float(np.mean([auroc[k]['value'] for k in SELECTION_SETS])))
    if diagnostic_dataset:
      results[name]['diagnostic_auroc'] = auroc_against(diagnostic_dataset)
  return results, {k: float(np.mean(v)) for k, v in model_bpd.items()}


def choose(results):
  """The winner's name under the stated rule."""
  return max(results, key=lambda n: (results[n]['mean_auroc'],
                                     -results[n]['mutation_rate'],
                                     -results[n]['l2_weight']))


def _provenance(summary):
  """Where the report's backgrounds come from, as a clause."""
  # Reports written before `num_trained` existed always trained their grid.
  if not summary.get('num_trained', 1):
    return ('no background trained here: the ones named below are scored '
            'as they were')
  where = ('one at a time on one core' if summary['cores'] == 1 else
           f'{summary["cores"]} at a time on one core each')
  extras = (', and the extra backgrounds named below as they were'
            if summary.get('extra_backgrounds') else '')
  return (f'backgrounds trained {summary["steps"]} steps from '
          f'`{summary["config"]}`, {where}{extras}')


def render(summary):
  """The Markdown report of one selection (or of its diagnosis)."""
  d = summary['dataset']
  ood = summary.get('diagnostic_dataset')
  title = (f'# Likelihood-ratio diagnosis: {d} against {ood}' if ood else
           f'# Background model selection: {d}')
  model_bpd = summary['model_bits_per_dim']
  lines = [
      title, '',
      f'Model `{summary["model_dir"]}` '
      f'({model_bpd["clean"]:.3f} bits/dim on the sample'
      + (f', {model_bpd[ood]:.3f} on the {ood} sample' if ood else '')
      + f'); {summary["num_images"]} class-stratified '
      f'test images (seed {summary["seed"]}); '
      + _provenance(summary)
      + '. Likelihood-ratio AUROC (bits/dim of the model minus '
      'the background; higher = more OoD) of the clean sample against the '
      'same images flipped upside down and inverted, 95% bootstrap '
      'intervals. '
      + (f'The last two columns read the real OoD set {ood}: a diagnosis '
         'after the choice, which the rule does not read.' if ood else
         'No image of the other real data set is used.'), '',
      'Rule: the highest mean AUROC over the two synthetic sets wins (ties: '
      'lower mutation rate, then lower L2 weight).', '']
  header = ['background', 'checkpoint', 'mutation rate', 'L2 weight',
            'background test bits/dim', f'AUROC vs {d}_vflip',
            f'AUROC vs {d}_inverted', 'mean', 'train min']
  if ood:
    header += [f'background bits/dim on {ood}', f'AUROC vs {ood}']
  lines += ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
  for name, r in summary['candidates'].items():
    mark = ' **(chosen)**' if name == summary['chosen'] else ''
    cells = [f'`{name}`', r.get('checkpoint', ''),
             f'{r["mutation_rate"]:g}', f'{r["l2_weight"]:g}',
             f'{r["background_test_bits_per_dim"]:.3f}']
    cells += [_interval(r['auroc'][k]) for k in SELECTION_SETS]
    cells.append(f'{r["mean_auroc"]:.3f}{mark}')
    seconds = r.get('train_seconds')
    cells.append('-' if seconds is None else f'{seconds / 60:.1f}')
    if ood:
      cells += [f'{r["background_bits_per_dim"][ood]:.3f}',
                _interval(r['diagnostic_auroc'])]
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines += ['', f'Total {summary["seconds"] / 60:.1f} min '
            f'({summary["machine"]}).', '']
  return '\n'.join(lines)


def _interval(a):
  return f'{a["value"]:.3f} [{a["low"]:.3f}, {a["high"]:.3f}]'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--dataset', required=True,
                      choices=('fashion_mnist', 'mnist'))
  parser.add_argument('--config', default=None,
                      help='gin file (default gin_configs/pixelcnn_<dataset>'
                      '.gin)')
  parser.add_argument('--model_dir', default=None,
                      help='in-distribution model (default checkpoints/'
                      'pixelcnn_<dataset>)')
  parser.add_argument('--steps', type=int, default=1000)
  parser.add_argument('--rates', default='0.1,0.2,0.3')
  parser.add_argument('--l2_weights', default='0')
  parser.add_argument('--grid', default='',
                      help='explicit rate:l2 pairs, e.g. 0.1:0,0.2:1e-4; '
                      "'none' scores only --extra_backgrounds")
  parser.add_argument('--num_images', type=int, default=2000)
  parser.add_argument('--cores', type=int, default=2)
  parser.add_argument('--runs_dir', default=os.path.join(
      REPO, 'runs', 'background_selection'))
  parser.add_argument('--output_dir', default=os.path.join(
      REPO, 'bench', 'results'))
  parser.add_argument('--output_name', default=None,
                      help='file stem of the report (default '
                      'background_selection_<dataset> for the PixelCNN, '
                      'else background_selection_<model dir name>)')
  parser.add_argument('--diagnostic_dataset', default=None,
                      choices=('fashion_mnist', 'mnist'),
                      help='the real OoD set, for a diagnosis after the '
                      'choice (needs --output_name)')
  parser.add_argument('--extra_backgrounds', default='',
                      help='comma-separated background dirs scored beside '
                      'the grid without training')
  args = parser.parse_args(argv)
  config = args.config or os.path.join(REPO, 'gin_configs',
                                       f'pixelcnn_{args.dataset}.gin')
  model_dir = args.model_dir or os.path.join(REPO, 'checkpoints',
                                             f'pixelcnn_{args.dataset}')
  extras = [p for p in args.extra_backgrounds.split(',') if p]
  for path in [config, model_dir] + extras:
    if not os.path.exists(path):
      parser.error(f'{path} does not exist')
  if args.diagnostic_dataset == args.dataset:
    parser.error('--diagnostic_dataset must be the other data set, not '
                 f'{args.dataset} itself')
  if args.diagnostic_dataset and not args.output_name:
    # The selection's own record must never be overwritten by a run that
    # read the real OoD set.
    parser.error('--diagnostic_dataset needs --output_name (a report other '
                 f'than background_selection_{args.dataset})')
  try:
    candidates = parse_grid(args.rates, args.l2_weights, args.grid)
  except ValueError as e:
    parser.error(f'bad --rates/--l2_weights/--grid: {e}')
  if not candidates and not extras:
    parser.error('--grid=none needs --extra_backgrounds: nothing to score')
  start = time.perf_counter()
  try:
    trained = train_candidates(config, candidates, args.runs_dir, args.steps,
                               args.dataset, cores=args.cores)
  except ValueError as e:
    parser.error(str(e))
  backgrounds = {n: d for n, (d, _) in trained.items()}
  for path in extras:
    name = os.path.basename(os.path.normpath(path))
    if name in backgrounds:
      parser.error(f'extra background {path} has the name of a candidate')
    backgrounds[name] = path
  results, model_bpd = score_candidates(
      model_dir, backgrounds, args.dataset, args.num_images,
      diagnostic_dataset=args.diagnostic_dataset)
  for name, (_, seconds) in trained.items():
    results[name]['train_seconds'] = seconds
  from tfp_flows.experiments import shipping  # pylint: disable=g-import-not-at-top
  from tfp_flows.utils import atomic  # pylint: disable=g-import-not-at-top
  summary = dict(
      dataset=args.dataset, config=os.path.relpath(config, REPO),
      model_dir=os.path.relpath(model_dir, REPO), steps=args.steps,
      cores=args.cores,
      num_images=args.num_images, seed=0, candidates=results,
      num_trained=len(trained),
      diagnostic_dataset=args.diagnostic_dataset,
      extra_backgrounds=[os.path.relpath(p, REPO) for p in extras],
      chosen=choose(results), model_test_bits_per_dim=model_bpd['clean'],
      model_bits_per_dim=model_bpd,
      seconds=time.perf_counter() - start,
      machine=shipping.machine_description(),
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  stem = os.path.join(args.output_dir, args.output_name or
                      default_output_name(args.dataset, model_dir))
  atomic.atomic_write_json(stem + '.json', summary)
  atomic.atomic_write_text(stem + '.md', render(summary))
  print(render(summary))
  print(f'Wrote {stem}.json and .md')


if __name__ == '__main__':
  main()
