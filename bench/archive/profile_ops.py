#!/usr/bin/env python
"""Where the time goes: per-op-type time of a train step and of log_prob.

Builds one or more variants of `bench/throughput.py` (same sizes, same data),
warms them up, then runs a few train steps (batch 64) and `log_prob` calls
(batch 256) under TensorFlow's profiler, reads the trace (XPlane) directly
and sums the time of each executed TF op by op type and by group (convs,
matmul, elementwise, ...). With `--trace-profile` it also runs the first
calls of a fresh model's `log_prob` and train step under cProfile, and
splits each into Python tracing and the rest (graph optimisation, first run),
with the time spent hashing bijectors for TFP's bijector cache.

Op times are summed over the executor threads, so with inter-op parallelism
their total can exceed wall time; read them as shares.
(Archived one-off; see bench/archive/README.md.)

Usage::

    .venv/bin/python bench/archive/profile_ops.py               # ours_affine
    .venv/bin/python bench/archive/profile_ops.py --trace-profile
    # other variants: --variants ours_affine,tfp_glow

Writes `bench/results/profile_ops.json` (atomically) unless `--output ''`.
"""

import argparse
import collections
import cProfile
import glob
import os
import pstats
import re
import shutil
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH)
import throughput  # noqa: E402  (bench/throughput.py: builders and constants)

from tfp_flows import data  # noqa: E402

_OP_EVENT = re.compile(r'^([^\s:]+):([A-Za-z0-9_]+)$')

GROUPS = (
    ('conv', {'Conv2D', '_FusedConv2D', 'Conv2DBackpropInput',
              'Conv2DBackpropFilter', 'DepthwiseConv2dNative'}),
    ('matmul', {'MatMul', '_FusedMatMul', 'BatchMatMulV2', 'BatchMatMulV3',
                'MatrixTriangularSolve', 'Einsum'}),
    ('bias/reduce', {'BiasAdd', 'BiasAddGrad', 'Sum', 'Mean', 'Prod', 'Max',
                     'Min'}),
    ('layout', {'Reshape', 'Transpose', 'ConcatV2', 'Split', 'SplitV',
                'Slice', 'StridedSlice', 'StridedSliceGrad', 'Pack',
                'Unpack', 'DepthToSpace', 'SpaceToDepth', 'Pad', 'Tile',
                'Identity', 'Squeeze', 'ExpandDims', 'GatherV2',
                'BroadcastTo', 'Fill', 'ZerosLike', 'OnesLike', 'Shape',
                'ShapeN', 'BroadcastArgs', 'BroadcastGradientArgs',
                'Range', 'Cast', 'Const'}),
    ('optimizer', {'ResourceApplyAdam', 'AssignVariableOp',
                   'AssignAddVariableOp', 'ReadVariableOp',
                   'ResourceApplyGradientDescent'}),
    ('random', {'StatelessRandomUniformV2', 'StatelessRandomGetKeyCounter',
                'StatelessRandomUniformV2', 'StatelessRandomNormalV2'}),
    ('control', {'If', 'StatelessIf', 'While', 'NoOp', 'PartitionedCall',
                 'StatefulPartitionedCall', 'IdentityN'}),
)


def group_of(op_type):
  for name, members in GROUPS:
    if op_type in members:
      return name
  return 'elementwise/other'


def read_op_times(logdir):
  """Sums op durations (ps) by op type from the XPlane files under `logdir`."""
  by_type = collections.Counter()
  count = collections.Counter()
  by_node = collections.Counter()
  paths = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)
  for path in paths:
    space = xplane_pb2.XSpace()
    with open(path, 'rb') as f:
      space.ParseFromString(f.read())
    for plane in space.planes:
      if not plane.name.startswith('/host:'):
        continue
      for line in plane.lines:
        if line.name == 'python':
          continue
        for event in line.events:
          m = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
          if m:
            by_type[m.group(2)] += event.duration_ps
            count[m.group(2)] += 1
            by_node[f'{_normalise_node(m.group(1))}:{m.group(2)}'] += (
                event.duration_ps)
  return by_type, count, by_node


def _normalise_node(name):
  """Folds per-step names together: 'level1_step7_coupling' -> 'level1_step*_coupling'."""
  name = re.sub(r'step\d+', 'step*', name)
  name = re.sub(r'(glow_block|real_nvp|invert|chain|one_by_one_conv|'
                r'sequential|conv2d|activation_normalization)_\d+', r'\1_*',
                name)
  return name


def profile_calls(fn, n, logdir):
  """Runs `fn(i)` n times under the profiler; returns wall s and op stats."""
  shutil.rmtree(logdir, ignore_errors=True)
  tf.profiler.experimental.start(logdir)
  mon = throughput.CpuMonitor()
  start = time.perf_counter()
  for i in range(n):
    fn(i)
  wall = time.perf_counter() - start
  other = mon.other_share()
  tf.profiler.experimental.stop()
  by_type, count, by_node = read_op_times(logdir)
  if other > 0.1:
    print(f'WARNING: other processes used {100 * other:.0f}% of the CPUs '
          'during this measurement', flush=True)
  return wall, (by_type, count, by_node)


def report(title, wall, stats, n, images_per_call, top=15, top_nodes=12):
  by_type, count, by_node = stats
  total = sum(by_type.values()) / 1e12
  groups = collections.Counter()
  for t, ps in by_type.items():
    groups[group_of(t)] += ps
  kernels = sum(count.values()) / n
  print(f'\n== {title}: {n} calls, {wall / n * 1e3:.0f} ms/call wall '
        f'({n * images_per_call / wall:.1f} img/s under the profiler); '
        f'op time {total / n * 1e3:.0f} ms/call summed over threads; '
        f'{kernels:.0f} op executions/call', flush=True)
  print('   by group:   ' + '  '.join(
      f'{g} {100 * ps / 1e12 / total:.1f}%' for g, ps in groups.most_common()))
  for t, ps in by_type.most_common(top):
    print(f'   {t:<28} {100 * ps / 1e12 / total:5.1f}%  '
          f'{ps / 1e9 / n:8.1f} ms/call  {count[t] / n:6.0f} execs/call')
  print('   top ops by node name (steps folded together):')
  for node, ps in by_node.most_common(top_nodes):
    print(f'     {100 * ps / 1e12 / total:5.1f}%  {node}')
  return dict(
      top_nodes={k: ps / 1e12 / total for k, ps in by_node.most_common(40)},
      calls=n, wall_ms_per_call=wall / n * 1e3,
      op_ms_per_call=total / n * 1e3, op_executions_per_call=kernels,
      groups={g: ps / 1e12 / total for g, ps in groups.items()},
      op_types={t: dict(share=ps / 1e12 / total, ms_per_call=ps / 1e9 / n,
                        execs_per_call=count[t] / n)
                for t, ps in by_type.most_common()})


def _first_call_profile(fn):
  """cProfile of `fn()`: wall s, Python tracing s, bijector-hashing s."""
  prof = cProfile.Profile()
  start = time.perf_counter()
  prof.enable()
  fn()
  prof.disable()
  wall = time.perf_counter() - start
  stats = pstats.Stats(prof).stats

  def cum(file_suffix, func):
    # pstats' cumulative time counts only the outermost of recursive calls.
    return sum(ct for (f, _, fn_), (_, _, _, ct, _) in stats.items()
               if f.endswith(file_suffix) and fn_ == func)
  return dict(
      wall_s=wall,
      python_tracing_s=cum('framework/func_graph.py',
                           'func_graph_from_py_func'),
      bijector_hash_s=cum('bijectors/bijector.py', '__hash__'),
      hashable_structure_s=cum('internal/cache_util.py', 'hashable_structure'))


def trace_profile(variant_name, init_images, train_batch, eval_batch):
  """cProfile of a fresh variant's first log_prob call and first train step.

  Splits each first call into Python tracing (building the graph, including
  TFP's bijector machinery) and the rest (graph optimisation by Grappler,
  kernel creation and the first run), and reports the time spent hashing
  bijectors for TFP's bijector cache.
  """
  v = throughput.build(variant_name, init_images)
  seed = tf.constant([0, 0], tf.int32)
  out = dict(
      eval=_first_call_profile(lambda: v.eval(eval_batch).numpy()),
      train=_first_call_profile(lambda: float(v.train(train_batch, seed))))
  for what, r in out.items():
    print(f'\n== {variant_name}: first {what} call under cProfile: '
          f'{r["wall_s"]:.1f} s wall = {r["python_tracing_s"]:.1f} s Python '
          f'tracing + {r["wall_s"] - r["python_tracing_s"]:.1f} s graph '
          f'optimisation/first run; hashing bijectors '
          f'{r["bijector_hash_s"]:.1f} s (hashable_structure '
          f'{r["hashable_structure_s"]:.1f} s)', flush=True)
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--variants', default='ours_affine')
  p.add_argument('--calls', type=int, default=5,
                 help='profiled train steps and log_prob calls per variant')
  p.add_argument('--trace-profile', action='store_true',
                 help='also cProfile the first (tracing) log_prob call')
  p.add_argument('--output', default=os.path.join(
      BENCH, 'results', 'profile_ops.json'))
  p.add_argument('--wait-idle', type=float, default=0., metavar='SECONDS',
                 help='first wait up to this long for an idle machine')
  args = p.parse_args(argv)
  if args.wait_idle > 0:
    throughput.wait_until_idle(args.wait_idle)
  names = [n.strip() for n in args.variants.split(',') if n.strip()]
  tf.random.set_seed(0)
  rng = np.random.default_rng(0)
  images, _ = data.load('fashion_mnist', 'train')
  init_images = images[rng.choice(len(images), throughput.INIT_BATCH,
                                  replace=False)]
  train_batches = [tf.constant(images[rng.integers(
      0, len(images), throughput.TRAIN_BATCH)]) for _ in range(args.calls)]
  eval_batches = [tf.constant(images[rng.integers(
      0, len(images), throughput.EVAL_BATCH)]) for _ in range(args.calls)]
  logdir = tempfile.mkdtemp(prefix='tfp_flows_profile_')
  out = {}
  try:
    for name in names:
      v = throughput.build(name, init_images)
      seeds = [tf.constant([0, i], tf.int32) for i in range(args.calls)]
      for i in range(2):                         # trace + warm up
        float(v.train(train_batches[i % args.calls], seeds[i % args.calls]))
        v.eval(eval_batches[i % args.calls]).numpy()
      res = {}
      wall, stats = profile_calls(
          lambda i: float(v.train(train_batches[i], seeds[i])), args.calls,
          logdir)
      res['train'] = report(f'{name} train step (batch 64)', wall, stats,
                            args.calls, throughput.TRAIN_BATCH)
      wall, stats = profile_calls(
          lambda i: v.eval(eval_batches[i]).numpy(), args.calls, logdir)
      res['eval'] = report(f'{name} log_prob (batch 256)', wall, stats,
                           args.calls, throughput.EVAL_BATCH)
      out[name] = res
      del v
    if args.trace_profile:
      out['trace_profile'] = {}
      for name in names:
        out['trace_profile'][name] = trace_profile(
            name, init_images, train_batches[0], eval_batches[0])
  finally:
    shutil.rmtree(logdir, ignore_errors=True)
  if args.output:
    throughput.atomic_write_json(args.output, out)
    print(f'\nwrote {args.output}')


if __name__ == '__main__':
  main(sys.argv[1:])
