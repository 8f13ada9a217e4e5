#!/usr/bin/env python
"""Issue 5's bf16 lever: does this CPU run bfloat16 matmuls faster than float32?

The lever (bf16 coupling networks, float32 log-dets) only applies "on CPUs
that support it": ones with native bf16 arithmetic (AVX512_BF16 or AMX).
This script reads the CPU's flags and times `tf.matmul` in float32 and
bfloat16 at the shape of our Glow's hidden 1x1 convolution at evaluation
(level 1, batch 256: [256 * 14 * 14, 128] x [128, 128]) and at a square
2048^3, the median of several calls after a warm-up
(`throughput.matmul_gflops`).
(Archived one-off; see bench/archive/README.md.)

    .venv/bin/python bench/archive/bf16_matmul.py

Prints a table and writes `bench/results/bf16_matmul.json` (atomically).
"""

import argparse
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'bench'))   # throughput.py

import tensorflow as tf  # noqa: E402

import throughput  # noqa: E402  (matmul_gflops)

# (name, [M, K], [K, N])
SHAPES = (('glow_hidden_1x1_level1_b256', [256 * 14 * 14, 128], [128, 128]),
          ('square_2048', [2048, 2048], [2048, 2048]))
BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags():
  """The CPU feature flags of /proc/cpuinfo (empty where it is absent)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('flags'):
          return set(line.split(':', 1)[1].split())
  except OSError:
    pass
  return set()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--calls', type=int, default=10)
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'bf16_matmul.json'))
  args = parser.parse_args()
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top

  flags = cpu_flags()
  native = sorted(f for f in BF16_FLAGS if f in flags)
  print(f'native bf16 flags: {native or "none"} (avx512f: '
        f'{"avx512f" in flags}, avx2: {"avx2" in flags})')
  results = {}
  for name, a_shape, b_shape in SHAPES:
    flops = 2. * a_shape[0] * a_shape[1] * b_shape[1]
    row = {}
    for dtype in (tf.float32, tf.bfloat16):
      rate = throughput.matmul_gflops(repeats=args.calls, warmup=1,
                                      a_shape=a_shape, b_shape=b_shape,
                                      dtype=dtype)
      row[dtype.name] = dict(seconds=flops / rate / 1e9, gflop_s=rate)
    row['bf16_speedup'] = row['float32']['seconds'] / row['bfloat16']['seconds']
    results[name] = row
    print(f'{name:<30} float32 {row["float32"]["gflop_s"]:7.1f} GFLOP/s  '
          f'bfloat16 {row["bfloat16"]["gflop_s"]:7.1f} GFLOP/s  '
          f'bf16 speedup {row["bf16_speedup"]:.2f}x')
  atomic_write_json(args.output, dict(
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      cpus=os.cpu_count(), native_bf16_flags=native,
      tensorflow=tf.__version__, calls=args.calls, shapes=results))
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
