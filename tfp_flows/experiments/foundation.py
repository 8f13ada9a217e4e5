"""The foundation run: a Glow's bits/dim on real FashionMNIST and MNIST, before and after a short training.

This is what `bin/reproduce` runs until the SIT analysis exists (full
training runs use `bin/train`). It builds a Glow (2 levels x 16 steps x 128 channels by default),
initialises ActNorm from 512 FashionMNIST training images, measures
per-image bits/dim on the FashionMNIST and MNIST test sets, trains for a
short, fixed number of steps on FashionMNIST, measures again, and writes:

  OUTPUT_DIR/results.json   every number, with config, timings and versions
  OUTPUT_DIR/report.md      the same as tables

Usage:
  python -m tfp_flows.experiments.foundation [--output_dir=results/foundation]
      [--num_train_steps=100] [--num_eval_images=10000] ...
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

__all__ = ['main', 'run']

IN_DIST = 'fashion_mnist'
OOD = 'mnist'


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog='bin/reproduce', description=__doc__.split('\n\n')[0])
  parser.add_argument('--output_dir', default='results/foundation',
                      help='where results.json and report.md are written')
  parser.add_argument('--num_train_steps', type=int, default=100)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--learning_rate', type=float, default=1e-3)
  parser.add_argument('--num_eval_images', type=int, default=10000,
                      help='test images per dataset (max 10000)')
  parser.add_argument('--eval_batch_size', type=int, default=256)
  parser.add_argument('--num_levels', type=int, default=2)
  parser.add_argument('--num_steps_per_level', type=int, default=16)
  parser.add_argument('--hidden_channels', type=int, default=128)
  parser.add_argument('--coupling', default='affine',
                      choices=['affine', 'additive'])
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  for name in ('num_train_steps', 'batch_size', 'num_eval_images',
               'eval_batch_size'):
    if getattr(args, name) < (0 if name == 'num_train_steps' else 1):
      parser.error(f'--{name} must be positive; got {getattr(args, name)}')
  if args.num_eval_images > 10000:
    parser.error('--num_eval_images is at most 10000 (the test split size)')
  return args


def _evaluate(model, sets, args, log):
  from tfp_flows import analysis  # pylint: disable=g-import-not-at-top
  results = {}
  for name, images in sets.items():
    start = time.perf_counter()
    bpd = analysis.evaluate_bits_per_dim(
        model, images, batch_size=args.eval_batch_size, seed=args.seed)
    seconds = time.perf_counter() - start
    results[name] = dict(analysis.summarize(bpd, seed=args.seed),
                         seconds=seconds,
                         images_per_second=len(images) / seconds)
    log(f'  {name:14s} bits/dim mean {bpd.mean():.4f} '
        f'(median {np.median(bpd):.4f}) on {len(images)} images, '
        f'{len(images) / seconds:.0f} img/s')
    results[name]['_values'] = bpd
  auc = analysis.auroc(results[IN_DIST]['_values'], results[OOD]['_values'])
  frac = float(np.mean(results[OOD]['_values']
                       < np.median(results[IN_DIST]['_values'])))
  for r in results.values():
    r.pop('_values')
  return dict(per_dataset=results, ood_auroc_bits_per_dim=auc,
              fraction_ood_below_in_dist_median=frac)


def _report(res):
  cfg = res['config']
  lines = [
      '# Foundation run: Glow bits/dim on FashionMNIST and MNIST', '',
      f"Generated {res['timestamp']} by `bin/reproduce` "
      f"(`python -m tfp_flows.experiments.foundation`).", '',
      f"Model: Glow, {cfg['num_levels']} levels x "
      f"{cfg['num_steps_per_level']} steps, {cfg['hidden_channels']} hidden "
      f"channels, {cfg['coupling']} coupling, "
      f"{res['num_parameters']:,} parameters. Trained on FashionMNIST train "
      f"for {cfg['num_train_steps']} steps (batch {cfg['batch_size']}, Adam "
      f"{cfg['learning_rate']}). Bits/dim: discrete log-likelihood under "
      'uniform dequantisation, `-log p(x) / (784 ln 2)`; mean with a 95% '
      'bootstrap interval.', '',
      '| model | dataset (test) | images | mean bits/dim [95% CI] | median |',
      '|---|---|---|---|---|']
  for stage in ('untrained', 'trained'):
    ev = res[stage]
    for name, r in ev['per_dataset'].items():
      lines.append(f"| {stage} | {name} | {r['count']} | {r['mean']:.4f} "
                   f"[{r['ci95'][0]:.4f}, {r['ci95'][1]:.4f}] | "
                   f"{r['median']:.4f} |")
  lines += ['', '| model | OoD AUROC (bits/dim as score, FashionMNIST vs MNIST) '
            '| MNIST images below the FashionMNIST median |', '|---|---|---|']
  for stage in ('untrained', 'trained'):
    ev = res[stage]
    lines.append(f"| {stage} | {ev['ood_auroc_bits_per_dim']:.4f} | "
                 f"{100 * ev['fraction_ood_below_in_dist_median']:.1f}% |")
  tr = res['training']
  lines += ['', 'AUROC < 0.5 means MNIST digits get *higher* likelihood than '
            'the FashionMNIST test images the model was trained for.', '',
            f"Training: {tr['images_per_second']:.1f} images/s after the first "
            f"step; loss (bits/dim) {tr['first_loss']:.3f} -> "
            f"{tr['last_loss']:.3f}. Wall time of the whole run "
            f"{res['wall_seconds']:.0f} s.", '']
  return '\n'.join(lines)


def run(args, log=print):
  """Runs the foundation experiment; returns the results dict."""
  from tfp_flows import data  # pylint: disable=g-import-not-at-top
  from tfp_flows.models import Glow  # pylint: disable=g-import-not-at-top
  from tfp_flows.training import train_steps  # pylint: disable=g-import-not-at-top
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top
  from tfp_flows.utils import atomic_write_text  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top

  wall = time.perf_counter()
  data.fetch(log=lambda m: None)
  train_images, _ = data.load(IN_DIST, 'train')
  sets = {name: data.load(name, 'test')[0][:args.num_eval_images]
          for name in (IN_DIST, OOD)}

  model = Glow(num_levels=args.num_levels,
               num_steps_per_level=args.num_steps_per_level,
               hidden_channels=args.hidden_channels, coupling=args.coupling,
               seed=args.seed)
  num_params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
  log(f'Glow: {num_params:,} parameters; ActNorm init on 512 training images')
  rng = np.random.default_rng(args.seed)
  model.initialize(train_images[rng.choice(len(train_images), 512,
                                           replace=False)], seed=args.seed)

  log('Evaluating the untrained (initialised) model ...')
  untrained = _evaluate(model, sets, args, log)
  log(f'Training {args.num_train_steps} steps on {IN_DIST} ...')
  training = train_steps(model, train_images, args.num_train_steps,
                         batch_size=args.batch_size,
                         learning_rate=args.learning_rate, seed=args.seed,
                         log_every=max(1, args.num_train_steps // 10), log=log)
  log('Evaluating the trained model ...')
  trained = _evaluate(model, sets, args, log)

  res = dict(
      timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      config=vars(args).copy(), num_parameters=num_params,
      untrained=untrained, trained=trained,
      training=dict(losses=training['losses'],
                    first_loss=training['losses'][0] if training['losses']
                    else float('nan'),
                    last_loss=training['losses'][-1] if training['losses']
                    else float('nan'),
                    images_per_second=training['images_per_second']),
      machine=dict(python=platform.python_version(), cpus=os.cpu_count(),
                   tensorflow=tf.__version__, tfp=tfp.__version__))
  res['wall_seconds'] = time.perf_counter() - wall
  os.makedirs(args.output_dir, exist_ok=True)
  atomic_write_json(os.path.join(args.output_dir, 'results.json'), res)
  report = _report(res)
  atomic_write_text(os.path.join(args.output_dir, 'report.md'), report)
  return res, report


def main(argv=None):
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  print('tfp_flows foundation run: the SIT analysis (bin/analyze_sits) is '
        'not built yet, so this measures what exists: a Glow\'s bits/dim on '
        'real FashionMNIST and MNIST test images, before and after '
        f'{args.num_train_steps} training steps. Full training: bin/train.',
        flush=True)
  try:
    _, report = run(args)
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    print(f'reproduce: error: {e}', file=sys.stderr)
    return 1
  print('\n' + report)
  out = os.path.abspath(args.output_dir)
  print(f'Results: {out}/report.md and {out}/results.json')
  return 0


if __name__ == '__main__':
  sys.exit(main())
