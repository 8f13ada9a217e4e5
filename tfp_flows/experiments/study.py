"""The study end to end: trained models (or short bounded runs), classifiers, SIT analysis.

This is what `bin/reproduce` runs. For each model config of the study it
uses the full research run in `RUNS/<config>` if one has reached its final
step (`bench/train_research_models.py` makes them; 30-40 min each on 2
CPU cores); otherwise it trains a *quick* run of the same config into
`RUNS/quick/<config>`, with a shortened schedule and a wall-clock bound
(`--quick_minutes`, default 6 per model), and says so in the report. It does
the same for the two classifiers (`RUNS/classifiers/<data set>`, ~2-4
minutes each), then runs `bin/analyze_sits` on a seeded, class-stratified
sample of each test set (`--num_images`, default 500) and prints where the
report is. Rerunning reuses every finished piece (checkpoints, classifiers,
the analysis cache).

Usage:
  python -m tfp_flows.experiments.study [--runs_dir=runs]
      [--output_dir=results/study] [--num_images=500] [--quick_minutes=6]
      [--configs=small_glow_fashion_mnist,pixelcnn_fashion_mnist]
"""

import argparse
import os
import subprocess
import sys
import time

__all__ = ['final_step', 'latest_step', 'main']

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
DEFAULT_CONFIGS = ('small_glow_fashion_mnist', 'pixelcnn_fashion_mnist')
# Quick runs keep each config's model and batch but shorten the schedule so
# that warm-up and cosine decay fit the bounded time: at the measured
# research-config throughput on 2 cores (docs/TRAINING.md), 150 Glow steps
# take ~3.8 min and 200 PixelCNN steps ~4 min, plus 1-2.5 min of tracing.
QUICK_STEPS = {'glow': 150, 'pixelcnn': 200}


def _parse_args(argv):
  parser = argparse.ArgumentParser(prog='bin/reproduce',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--runs_dir', default=os.path.join(REPO, 'runs'))
  parser.add_argument('--output_dir',
                      default=os.path.join(REPO, 'results', 'study'))
  parser.add_argument('--configs', default=','.join(DEFAULT_CONFIGS),
                      help='research configs (gin_configs/<name>.gin)')
  parser.add_argument('--num_images', type=int, default=500,
                      help='test images per data set (max 10000)')
  parser.add_argument('--quick_minutes', type=float, default=6.,
                      help='wall-clock bound per quick model run')
  parser.add_argument('--quick_steps', type=int, default=None,
                      help='steps of a quick run (default: 150 Glow, 200 PixelCNN)')
  args = parser.parse_args(argv)
  if not 0 < args.num_images <= 10000:
    parser.error('--num_images must be in [1, 10000]')
  if not args.quick_minutes > 0:
    parser.error('--quick_minutes must be positive')
  if args.quick_steps is not None and args.quick_steps < 6:
    parser.error('--quick_steps must be at least 6')
  for name in args.configs.split(','):
    if not os.path.exists(_config_path(name)):
      parser.error(f'no config gin_configs/{name}.gin')
  return args


def _config_path(name):
  return os.path.join(REPO, 'gin_configs', name + '.gin')


def latest_step(model_dir):
  """Step of the latest checkpoint in `model_dir`, or None if it has none."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(model_dir):
    return None
  path = tf.train.latest_checkpoint(model_dir)
  return int(path.rsplit('-', 1)[1]) if path else None


def final_step(config):
  """`train.num_steps` of a gin config file (clears the global gin config)."""
  import gin  # pylint: disable=g-import-not-at-top
  from tfp_flows import configurables  # pylint: disable=g-import-not-at-top,unused-import
  gin.clear_config()
  gin.parse_config_files_and_bindings([config], [])
  return gin.query_parameter('train.num_steps')


def _run(cmd):
  print('$ ' + ' '.join(cmd[1:]), flush=True)
  subprocess.run(cmd, check=True, cwd=REPO)


def _model_dir(name, runs_dir, quick_minutes, quick_steps=None):
  """The full run if finished, else a quick run (trained here if needed)."""
  full = os.path.join(runs_dir, name)
  final = final_step(_config_path(name))
  if (latest_step(full) or 0) >= final:
    print(f'== {name}: using the full research run {full} (step {final}).')
    return full, 'full'
  quick = os.path.join(runs_dir, 'quick', name)
  steps = quick_steps or QUICK_STEPS[
      'pixelcnn' if 'pixelcnn' in name else 'glow']
  if (latest_step(quick) or 0) >= steps:
    print(f'== {name}: using the quick run {quick}.')
    return quick, 'quick'
  print(f'== {name}: no full run in {full}; training a quick run ({steps} '
        f'steps, at most {quick_minutes:g} min) into {quick}.', flush=True)
  _run([sys.executable, os.path.join(REPO, 'bin', 'train'),
        f'--gin_file={_config_path(name)}', f'--model_dir={quick}',
        f'--gin_param=train.num_steps = {steps}',
        f'--gin_param=train.decay_steps = {steps}',
        f'--gin_param=train.warmup_steps = {steps // 6}',
        f'--gin_param=train.eval_every = {steps}',
        f'--gin_param=train.checkpoint_every = {steps // 3}',
        f'--gin_param=train.sample_every = 0',
        f'--gin_param=train.max_train_seconds = {quick_minutes * 60.}'])
  return quick, 'quick'


def _classifier_dir(dataset, runs_dir):
  path = os.path.join(runs_dir, 'classifiers', dataset)
  if os.path.exists(os.path.join(path, 'classifier.json')):
    print(f'== classifier for {dataset}: using {path}.')
    return path
  print(f'== classifier for {dataset}: training into {path}.', flush=True)
  _run([sys.executable, '-m', 'tfp_flows.classifiers.cli',
        '--gin_file=' + os.path.join(REPO, 'gin_configs', 'classifiers',
                                     dataset + '.gin'),
        f'--model_dir={path}'])
  return path


def main(argv=None):
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  start = time.perf_counter()
  model_dirs = []
  for name in args.configs.split(','):
    model_dir, kind = _model_dir(name, args.runs_dir, args.quick_minutes,
                                 args.quick_steps)
    model_dirs.append(model_dir)
    if kind == 'quick':
      print(f'   ({name} is a short run: its numbers show the method, not '
            'the converged model; bench/train_research_models.py trains the '
            'full one.)')
  classifier_dirs = [_classifier_dir(d, args.runs_dir)
                     for d in ('fashion_mnist', 'mnist')]
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--output_dir={args.output_dir}', f'--num_images={args.num_images}']
  cmd += [f'--model_dir={d}' for d in model_dirs]
  cmd += [f'--classifier_dir={d}' for d in classifier_dirs]
  _run(cmd)
  print(f'Study done in {(time.perf_counter() - start) / 60:.1f} min. Report: '
        f'{os.path.join(args.output_dir, "report.md")}')


if __name__ == '__main__':
  main()
