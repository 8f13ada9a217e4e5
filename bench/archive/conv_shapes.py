#!/usr/bin/env python
"""The coupling network's convolutions in isolation: which shapes are slow, and fixes.

`profile_ops.py` shows that our Glow spends most of its time in the coupling
networks' convolutions, and most of that in the zero-initialised 3x3 output
conv (128 -> 4 channels at level 1), whose weight and input gradients are
slow on CPU. This script times, at the shapes of the benchmark model
(28x28x1, 2 levels, width 128; level 1 at 14x14, level 2 at 7x7):

1. each conv of the coupling network alone (forward at batch 256; forward +
   both gradients at batch 64), as ms and GFLOP/s;
2. the whole coupling network as written in `tfp_flows` (`conv + bias` then
   `relu`) against `tf.nn.bias_add` (which Grappler fuses into one
   `_FusedConv2D` with the ReLU);
3. the 3x3 output conv as `tf.nn.conv2d` against reformulations with the
   same result: a 1x1 matmul to 9*C channels followed by a shifted sum of the
   9 taps, the sum done by nine strided slices (`matmul_shift`) or by a
   one-hot depthwise conv (`taps_depthwise`, the library's
   `tfp_flows.bijectors.conv_ops.conv2d_same_by_taps`), and a conv with the
   output channels zero-padded to 16.

Variants are timed interleaved over rounds (median [min-max]); every
reformulation is checked against the reference to float32 tolerance.
(Archived one-off; see bench/archive/README.md.)

    .venv/bin/python bench/archive/conv_shapes.py [--rounds 7] [--reps 20]

Writes `bench/results/conv_shapes.json` (atomically).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Every variant is its own tf.function; TF's retracing warning is noise here.
tf.get_logger().setLevel('ERROR')

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH)
import throughput  # noqa: E402  (CpuMonitor, atomic_write_json, matmul rate)
sys.path.insert(0, os.path.dirname(BENCH))
from tfp_flows.bijectors import conv_ops  # noqa: E402

HIDDEN = 128
# (name, height=width, conditioning channels, coupling-net output channels)
LEVELS = (('level1', 14, 2, 4), ('level2', 7, 4, 8))


def he(shape, seed):
  fan_in = np.prod(shape[:-1])
  rng = np.random.default_rng(seed)
  return tf.constant((rng.standard_normal(shape) * np.sqrt(2. / fan_in))
                     .astype(np.float32))


def conv_flops(batch, hw, k, c_in, c_out):
  return 2. * batch * hw * hw * k * k * c_in * c_out


# ---------------------------------------------------------------- variants


def out_conv_reference(h, w):
  return tf.nn.conv2d(h, w, 1, 'SAME')


def out_conv_matmul_shift(h, w):
  """3x3 'SAME' conv as a 1x1 conv to 9*C channels and a sum of shifted taps.

  out[i, j] = sum_{dy, dx} (h @ w[dy, dx])[i + dy - 1, j + dx - 1].
  """
  k, _, c_in, c_out = w.shape
  hw = h.shape[1]
  taps = tf.reshape(tf.transpose(w, [2, 0, 1, 3]), [c_in, k * k * c_out])
  p = tf.reshape(tf.matmul(tf.reshape(h, [-1, c_in]), taps),
                 [-1, hw, hw, k, k, c_out])
  pad = k // 2
  p = tf.pad(p, [[0, 0], [pad, pad], [pad, pad], [0, 0], [0, 0], [0, 0]])
  return tf.add_n([p[:, dy:dy + hw, dx:dx + hw, dy, dx, :]
                   for dy in range(k) for dx in range(k)])


def out_conv_padded16(h, w):
  c_out = w.shape[-1]
  w16 = tf.pad(w, [[0, 0], [0, 0], [0, 0], [0, 16 - c_out]])
  return tf.nn.conv2d(h, w16, 1, 'SAME')[..., :c_out]


OUT_CONV_VARIANTS = (('conv2d', out_conv_reference),
                     ('matmul_shift', out_conv_matmul_shift),
                     ('taps_depthwise', conv_ops.conv2d_same_by_taps),
                     ('conv2d_pad16', out_conv_padded16))


def coupling_net(x, p, fused, out_conv=out_conv_reference):
  """The coupling network: `conv + bias` (fused=False, tfp_flows before issue 5)
  or `bias_add` (True); GlowConditioner now is bias_add + taps_depthwise."""
  if fused:
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, p['k1'], 1, 'SAME'), p['b1']))
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, p['k2'], 1, 'SAME'),
                                  p['b2']))
    return tf.nn.bias_add(out_conv(h, p['k3']), p['b3'])
  h = tf.nn.relu(tf.nn.conv2d(x, p['k1'], 1, 'SAME') + p['b1'])
  h = tf.nn.relu(tf.nn.conv2d(h, p['k2'], 1, 'SAME') + p['b2'])
  return tf.nn.conv2d(h, p['k3'], 1, 'SAME') + p['b3']


# ----------------------------------------------------------------- timing


def forward_fn(f, x, *params):
  return tf.function(lambda: tf.reduce_sum(f(x, *params)), autograph=False)


def backward_fn(f, x, *params):
  """Forward + gradients w.r.t. the input and every parameter."""
  variables = [tf.Variable(p) for p in tf.nest.flatten(params)]
  structure = params

  @tf.function(autograph=False)
  def run():
    with tf.GradientTape() as tape:
      tape.watch(x)
      args = tf.nest.pack_sequence_as(structure, variables)
      y = f(x, *args)
      # A fixed random cotangent, so no gradient is trivially constant.
      loss = tf.reduce_sum(y * tf.random.stateless_normal(tf.shape(y), [7, 7]))
    grads = tape.gradient(loss, [x] + variables)
    return tf.add_n([tf.reduce_sum(g) for g in grads])
  return run


def time_interleaved(fns, rounds, reps):
  """{name: [seconds per call, one per round]}; order rotates per round."""
  names = list(fns)
  for name in names:                      # trace + warm up
    fns[name]().numpy()
    fns[name]().numpy()
  out = {n: [] for n in names}
  shares = []
  for r in range(rounds):
    k = r % len(names)
    for name in names[k:] + names[:k]:
      mon = throughput.CpuMonitor()
      start = time.perf_counter()
      for _ in range(reps):
        fns[name]().numpy()
      out[name].append((time.perf_counter() - start) / reps)
      shares.append(mon.other_share())
  return out, max(shares)


def fmt(times_s, flops=None):
  med = statistics.median(times_s)
  s = (f'{1e3 * med:8.2f} ms [{1e3 * min(times_s):.2f}-'
       f'{1e3 * max(times_s):.2f}]')
  if flops:
    s += f'  {flops / med / 1e9:6.1f} GFLOP/s'
  return s


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--rounds', type=int, default=7)
  p.add_argument('--reps', type=int, default=20,
                 help='calls per variant per round')
  p.add_argument('--train-batch', type=int, default=throughput.TRAIN_BATCH)
  p.add_argument('--eval-batch', type=int, default=throughput.EVAL_BATCH)
  p.add_argument('--wait-idle', type=float, default=0., metavar='SECONDS')
  p.add_argument('--output', default=os.path.join(
      BENCH, 'results', 'conv_shapes.json'))
  args = p.parse_args(argv)
  if args.wait_idle > 0:
    throughput.wait_until_idle(args.wait_idle)
  peak = throughput.matmul_gflops()
  print(f'float32 matmul: {peak:.1f} GFLOP/s; rounds {args.rounds} x '
        f'{args.reps} calls, median [min-max] per call', flush=True)
  results = dict(matmul_gflops=peak, config=vars(args), levels={})
  worst_share = 0.
  for level, hw, c_in, c_out in LEVELS:
    params = dict(
        k1=he([3, 3, c_in, HIDDEN], 1), b1=tf.zeros([HIDDEN]),
        k2=he([1, 1, HIDDEN, HIDDEN], 2), b2=tf.zeros([HIDDEN]),
        k3=he([3, 3, HIDDEN, c_out], 3) * 0.01, b3=tf.zeros([c_out]))
    res = {}
    for phase, batch in (('forward_eval', args.eval_batch),
                         ('forward_backward_train', args.train_batch)):
      make = forward_fn if phase == 'forward_eval' else backward_fn
      mult = 1. if phase == 'forward_eval' else 3.
      rng = np.random.default_rng(0)
      x = tf.constant(rng.standard_normal([batch, hw, hw, c_in])
                      .astype(np.float32))
      h = tf.constant(np.maximum(rng.standard_normal(
          [batch, hw, hw, HIDDEN]), 0).astype(np.float32))
      convs = {
          f'in 3x3 {c_in}->{HIDDEN}': (
              lambda a, k: tf.nn.conv2d(a, k, 1, 'SAME'), x, params['k1'],
              conv_flops(batch, hw, 3, c_in, HIDDEN)),
          f'hidden 1x1 {HIDDEN}->{HIDDEN}': (
              lambda a, k: tf.nn.conv2d(a, k, 1, 'SAME'), h, params['k2'],
              conv_flops(batch, hw, 1, HIDDEN, HIDDEN)),
      }
      for name, f in OUT_CONV_VARIANTS:
        convs[f'out 3x3 {HIDDEN}->{c_out} {name}'] = (
            f, h, params['k3'], conv_flops(batch, hw, 3, HIDDEN, c_out))
      # Check the reformulations against the reference.
      ref = out_conv_reference(h, params['k3'])
      for name, f in OUT_CONV_VARIANTS[1:]:
        err = float(tf.reduce_max(tf.abs(f(h, params['k3']) - ref)))
        scale = float(tf.reduce_max(tf.abs(ref)))
        assert err <= 1e-4 * max(scale, 1.), (name, err, scale)
      fns = {n: make(f, a, k) for n, (f, a, k, _) in convs.items()}
      fns['coupling net, conv + bias (ours)'] = make(
          lambda a, prm: coupling_net(a, prm, fused=False), x, params)
      fns['coupling net, bias_add (fusable)'] = make(
          lambda a, prm: coupling_net(a, prm, fused=True), x, params)
      fns['coupling net, bias_add + matmul_shift'] = make(
          lambda a, prm: coupling_net(a, prm, fused=True,
                                      out_conv=out_conv_matmul_shift),
          x, params)
      fns['coupling net, bias_add + taps_depthwise (library)'] = make(
          lambda a, prm: coupling_net(a, prm, fused=True,
                                      out_conv=conv_ops.conv2d_same_by_taps),
          x, params)
      times, share = time_interleaved(fns, args.rounds, args.reps)
      worst_share = max(worst_share, share)
      net_flops = sum(c[3] for n, c in convs.items()
                      if not n.startswith('out') or n.endswith('conv2d'))
      print(f'\n{level} ({hw}x{hw}), {phase}, batch {batch}'
            f'{"  (FLOPs x3 for forward+backward)" if mult > 1 else ""}:')
      res[phase] = {}
      for name, t in times.items():
        flops = (convs[name][3] if name in convs else net_flops) * mult
        print(f'  {name:<40} {fmt(t, flops)}')
        res[phase][name] = dict(
            median_ms=1e3 * statistics.median(t), min_ms=1e3 * min(t),
            max_ms=1e3 * max(t), flops=flops,
            gflops=flops / statistics.median(t) / 1e9)
    results['levels'][level] = res
  results['other_processes_cpu_share_max'] = worst_share
  if worst_share > 0.1:
    print(f'\nWARNING: other processes used up to {100 * worst_share:.0f}% '
          'of the CPUs during the measurements')
  throughput.atomic_write_json(args.output, results)
  print(f'\nwrote {args.output}')


if __name__ == '__main__':
  main(sys.argv[1:])
