"""Training throughput of every research config in gin_configs/ (a benchmark, not a test).

For each research config (`gin_configs/*.gin` except `tiny_*`), runs the real
trainer (`bin/train`'s code path) for `--steps` steps in a temporary model
directory with evaluation, sampling and checkpoints off, and reports the
median-free steady-state figure the trainer measures itself: images/s over
all steps after the first (which includes tracing), seconds per 1,000 steps,
and the first-step (trace + compile) time. Each config runs in its own
process, one after the other, so they do not share a TF runtime.

  .venv/bin/python bench/research_configs.py [--steps 40] [--configs a.gin,b.gin]

Writes bench/results/research_configs.json (atomically) and prints a table.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

_CHILD = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import gin
from tfp_flows import configurables
config, steps, model_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gin.parse_config_files_and_bindings([config], [
    f'train.num_steps = {steps}', 'train.eval_every = 0',
    'train.sample_every = 0', 'train.checkpoint_every = 0',
    'train.summary_every = 0', 'train.log_every = 0'])
start = time.perf_counter()
result = configurables.train(model_dir=model_dir, verbose=False)
wall = time.perf_counter() - start
batch = gin.query_parameter('train.batch_size')
print(json.dumps(dict(images_per_second=result['images_per_second'],
                      batch_size=batch, steps=steps, wall_seconds=wall)))
'''


def _measure(config, steps):
  with tempfile.TemporaryDirectory() as model_dir:
    out = subprocess.run([sys.executable, '-c', _CHILD, config, str(steps),
                          model_dir], capture_output=True, text=True,
                         check=False)
  if out.returncode:
    raise RuntimeError(f'{config} failed:\n{out.stderr[-2000:]}')
  res = json.loads(out.stdout.strip().splitlines()[-1])
  img_s = res['images_per_second']
  steady = (steps - 1) * res['batch_size'] / img_s
  res['seconds_per_1000_steps'] = 1000 * res['batch_size'] / img_s
  res['first_step_seconds'] = res['wall_seconds'] - steady
  return res


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--steps', type=int, default=40)
  parser.add_argument('--configs', default=None,
                      help='comma-separated config paths (default: research)')
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'research_configs.json'))
  args = parser.parse_args()
  if args.steps < 3:
    parser.error('--steps must be at least 3')
  configs = (args.configs.split(',') if args.configs else sorted(
      p for p in glob.glob(os.path.join(REPO, 'gin_configs', '*.gin'))
      if not os.path.basename(p).startswith('tiny_')))
  results = {}
  print(f'{"config":38s} {"img/s":>8s} {"s/1000 steps":>13s} {"first step s":>13s}')
  for config in configs:
    res = _measure(config, args.steps)
    name = os.path.basename(config)
    results[name] = res
    print(f'{name:38s} {res["images_per_second"]:8.1f} '
          f'{res["seconds_per_1000_steps"]:13.0f} '
          f'{res["first_step_seconds"]:13.1f}', flush=True)
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top
  atomic_write_json(args.output, dict(
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      steps=args.steps, cpus=os.cpu_count(), results=results))
  print(f'Wrote {args.output}')


if __name__ == '__main__':
  main()
