#!/usr/bin/env python
"""What makes training faster or better per CPU-hour (a benchmark, not a test).

Runs the real trainer (`bin/train`'s code path) on one config, in child
processes, under these levers:

* `speed`: images/s of one process on both cores (TF's default threads) at
  batch 32 / 64 / 128, with and without XLA (`train.jit_compile`); and of
  two processes at once, each pinned to one core (`taskset`) with one
  intra-op and one inter-op thread, whose sum is the machine's throughput
  when two models train side by side.
* `lr`: two short runs side by side (one core each, the layout the speed
  lever favours when it does), equal in everything but the peak learning
  rate, each with its cosine schedule ending at its last step; both evaluate
  their EMA *and* raw weights on the first `--eval_images` test images, so
  the EMA lever is measured by the same runs.

  .venv/bin/python bench/training_levers.py speed [--steps 30]
  .venv/bin/python bench/training_levers.py lr [--steps 400] [--lrs 1e-3,2e-3]

Evaluation, sampling and checkpoints are off in `speed`; images/s is the
trainer's own steady-state figure (all steps after the first, which traces).
Writes bench/results/training_levers_<mode>.json (atomically).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
DEFAULT_CONFIG = os.path.join(REPO, 'gin_configs',
                              'paper_glow_affine_fashion_mnist.gin')

_CHILD = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
spec = json.loads(sys.argv[1])
import tensorflow as tf
if spec['threads']:
  tf.config.threading.set_intra_op_parallelism_threads(spec['threads'])
  tf.config.threading.set_inter_op_parallelism_threads(spec['threads'])
import gin
import numpy as np
from tfp_flows import configurables, data, models
from tfp_flows.models import evaluation
gin.parse_config_files_and_bindings([spec['config']], spec['bindings'])
start = time.perf_counter()
result = configurables.train(model_dir=spec['model_dir'], verbose=False,
                             operative_config=gin.operative_config_str)
out = dict(images_per_second=result['images_per_second'],
           wall_seconds=time.perf_counter() - start,
           cpu_seconds=result['cpu_seconds'], step=result['step'])
if spec['eval_images']:
  images, _ = data.load(gin.query_parameter('train.dataset'), 'test')
  images = images[:spec['eval_images']]
  for weights in ('ema', 'raw'):
    model = models.load(spec['model_dir'], use_ema=(weights == 'ema'))
    bpd = evaluation.evaluate_bits_per_dim(model, images, batch_size=256)
    out[f'test_bits_per_dim_{weights}'] = float(np.mean(bpd))
print('RESULT ' + json.dumps(out))
'''


def _start(config, bindings, threads=0, core=None, eval_images=0):
  """Starts one child; returns (process, temporary model dir)."""
  model_dir = tempfile.mkdtemp(prefix='levers_')
  spec = dict(config=config, bindings=bindings, threads=threads,
              model_dir=model_dir, eval_images=eval_images)
  cmd = [sys.executable, '-c', _CHILD, json.dumps(spec)]
  if core is not None:
    cmd = ['taskset', '-c', str(core)] + cmd
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  return proc, model_dir


def _finish(proc, model_dir, label):
  out, err = proc.communicate()
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(model_dir, ignore_errors=True)
  if proc.returncode:
    raise RuntimeError(f'{label} failed:\n{err[-3000:]}')
  line = [l for l in out.splitlines() if l.startswith('RESULT ')][-1]
  return json.loads(line[len('RESULT '):])


def _quiet_bindings(steps, batch_size=None, extra=()):
  bindings = [f'train.num_steps = {steps}', 'train.eval_every = 0', 'train.sample_every = 0',
              'train.summary_every = 0', 'train.log_every = 0']
  if batch_size is not None:
    bindings.append(f'train.batch_size = {batch_size}')
  return bindings + list(extra)


def speed(config, steps):
  """Images/s under each speed lever; returns {setting: result}."""
  results = {}
  single = [('batch64', 64, ()), ('batch32', 32, ()), ('batch128', 128, ()),
            ('batch64_xla', 64, ('train.jit_compile = True',))]
  for name, batch, extra in single:
    bindings = _quiet_bindings(steps, batch, extra) + [
        'train.checkpoint_every = 0']
    proc, mdir = _start(config, bindings)
    results[name] = _finish(proc, mdir, name)
    results[name]['batch_size'] = batch
    print(f'{name:28s} {results[name]["images_per_second"]:8.1f} img/s',
          flush=True)
  # Two runs side by side, one core each.
  bindings = _quiet_bindings(steps, 64) + ['train.checkpoint_every = 0']
  pair = [_start(config, bindings, threads=1, core=c) for c in (0, 1)]
  pair_results = [_finish(p, d, f'core{c}') for c, (p, d) in enumerate(pair)]
  total = sum(r['images_per_second'] for r in pair_results)
  results['two_runs_one_core_each'] = dict(
      runs=pair_results, batch_size=64, images_per_second=total)
  print(f'{"two runs, one core each":28s} {total:8.1f} img/s (sum; '
        + ', '.join(f'{r["images_per_second"]:.1f}' for r in pair_results)
        + ')', flush=True)
  base = results['batch64']['images_per_second']
  for res in results.values():
    res['relative_to_batch64'] = res['images_per_second'] / base
  return results


def learning_rates(config, steps, lrs, eval_images):
  """Side-by-side runs differing only in the peak learning rate."""
  runs = []
  for core, lr in enumerate(lrs):
    # The config's warm-up (200 steps) is scaled to the short schedule.
    bindings = _quiet_bindings(steps, extra=(
        f'train.learning_rate = {lr}', f'train.decay_steps = {steps}',
        f'train.warmup_steps = {max(1, steps // 20)}',
        'train.checkpoint_every = 0'))
    runs.append((lr, _start(config, bindings, threads=1, core=core % 2,
                            eval_images=eval_images)))
  results = {}
  for lr, (proc, mdir) in runs:
    res = _finish(proc, mdir, f'lr {lr}')
    results[str(lr)] = res
    print(f'lr {lr:<8g} {res["images_per_second"]:7.1f} img/s  '
          f'test bits/dim EMA {res["test_bits_per_dim_ema"]:.4f}  raw '
          f'{res["test_bits_per_dim_raw"]:.4f}', flush=True)
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('mode', choices=('speed', 'lr'))
  parser.add_argument('--config', default=DEFAULT_CONFIG)
  parser.add_argument('--steps', type=int, default=None,
                      help='steps per run (speed: 30, lr: 400)')
  parser.add_argument('--lrs', default='1e-3,2e-3')
  parser.add_argument('--eval_images', type=int, default=1000)
  args = parser.parse_args()
  if args.mode == 'speed':
    steps = args.steps or 30
    results = speed(args.config, steps)
  else:
    steps = args.steps or 400
    results = learning_rates(args.config, steps,
                             [float(v) for v in args.lrs.split(',')],
                             args.eval_images)
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top
  path = os.path.join(REPO, 'bench', 'results',
                      f'training_levers_{args.mode}.json')
  atomic_write_json(path, dict(
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      config=os.path.relpath(args.config, REPO), steps=steps,
      cpus=os.cpu_count(), results=results))
  print(f'Wrote {path}')


if __name__ == '__main__':
  main()
