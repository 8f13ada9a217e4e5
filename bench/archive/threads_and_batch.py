#!/usr/bin/env python
"""Two of issue 5's levers: TF thread pools and the evaluation batch size.

Thread-pool sizes are fixed when TensorFlow starts, so each setting runs in
its own child process: it builds our Glow (the benchmark size of
`throughput.py`), initialises it, and times `log_prob` at several batch
sizes and a few training steps. Settings are run in turn for several rounds
(the order rotates) and medians are reported.
(Archived one-off; see bench/archive/README.md.)

    .venv/bin/python bench/archive/threads_and_batch.py [--rounds 3]

Writes `bench/results/threads_and_batch.json` (atomically).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, REPO)

# (name, intra-op threads, inter-op threads); 0 = TensorFlow's default.
SETTINGS = (('default', 0, 0), ('intra2_inter1', 2, 1),
            ('intra1_inter2', 1, 2), ('intra2_inter2', 2, 2))
EVAL_BATCHES = (128, 256, 512)

_CHILD = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
intra, inter, eval_batches, steps = (int(sys.argv[1]), int(sys.argv[2]),
                                     json.loads(sys.argv[3]), int(sys.argv[4]))
import numpy as np
import tensorflow as tf
if intra:
  tf.config.threading.set_intra_op_parallelism_threads(intra)
if inter:
  tf.config.threading.set_inter_op_parallelism_threads(inter)
sys.path.insert(0, sys.argv[5])
import throughput as tp
from tfp_flows import data
images, _ = data.load('fashion_mnist', 'train', num_examples=4096)
variant = tp.build('ours_affine', images[:tp.INIT_BATCH])
out = dict(eval_img_s={}, intra=tf.config.threading.get_intra_op_parallelism_threads(),
           inter=tf.config.threading.get_inter_op_parallelism_threads())
rng = np.random.default_rng(0)
for batch in eval_batches:
  x = tf.constant(images[:batch])
  variant.eval(x).numpy()  # warm-up (same trace for every batch size)
  calls = max(2, 1024 // batch)
  tick = time.perf_counter()
  for _ in range(calls):
    variant.eval(x).numpy()
  out['eval_img_s'][str(batch)] = calls * batch / (time.perf_counter() - tick)
x = tf.constant(images[:tp.TRAIN_BATCH])
seed = tf.constant([0, 0], tf.int32)
float(variant.train(x, seed))
tick = time.perf_counter()
for i in range(steps):
  float(variant.train(x, tf.constant([0, i + 1], tf.int32)))
out['train_img_s'] = steps * tp.TRAIN_BATCH / (time.perf_counter() - tick)
print(json.dumps(out))
'''


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--train_steps', type=int, default=8)
  parser.add_argument('--settings', default=','.join(n for n, _, _ in SETTINGS),
                      help='comma-separated subset of the settings')
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'threads_and_batch.json'))
  args = parser.parse_args()
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top

  wanted = args.settings.split(',')
  unknown = set(wanted) - {n for n, _, _ in SETTINGS}
  if unknown:
    parser.error(f'unknown settings {sorted(unknown)}')
  settings = [s for s in SETTINGS if s[0] in wanted]
  runs = {name: [] for name, _, _ in settings}
  for r in range(args.rounds):
    order = settings[r % len(settings):] + settings[:r % len(settings)]
    for name, intra, inter in order:
      child = subprocess.run(
          [sys.executable, '-c', _CHILD, str(intra), str(inter),
           json.dumps(EVAL_BATCHES), str(args.train_steps),
           os.path.join(REPO, 'bench')],
          capture_output=True, text=True, cwd=REPO,
          env=dict(os.environ, PYTHONPATH=REPO))
      if child.returncode:
        raise RuntimeError(f'{name} failed:\n{child.stderr[-3000:]}')
      result = json.loads(child.stdout.strip().splitlines()[-1])
      runs[name].append(result)
      print(f'round {r + 1} {name}: eval ' + ', '.join(
          f'b{b} {v:.1f}' for b, v in result['eval_img_s'].items()) +
            f' img/s; train {result["train_img_s"]:.1f} img/s', flush=True)
  summary = {}
  for name, results in runs.items():
    summary[name] = dict(
        threads=dict(intra=results[0]['intra'], inter=results[0]['inter']),
        eval_img_s={str(b): statistics.median(
            x['eval_img_s'][str(b)] for x in results) for b in EVAL_BATCHES},
        train_img_s=statistics.median(x['train_img_s'] for x in results))
    print(f'{name:<15} eval ' + ', '.join(
        f'b{b} {v:.1f}' for b, v in summary[name]['eval_img_s'].items()) +
          f'  train {summary[name]["train_img_s"]:.1f} img/s (medians)')
  atomic_write_json(args.output, dict(
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      cpus=os.cpu_count(), rounds=args.rounds, settings=summary, runs=runs))
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
