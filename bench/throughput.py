#!/usr/bin/env python
"""Throughput of tfp_flows' models against their TFP peers, in one process.

Variants (28x28x1). Glow: 2 levels x 16 steps, coupling width 128:

* `ours_affine`   - `tfp_flows.models.Glow(coupling='affine')`
* `ours_additive` - `tfp_flows.models.Glow(coupling='additive')`
* `tfp_glow`      - `tfp.bijectors.Glow` with `GlowDefaultNetwork(num_hidden=128)`
  and `GlowDefaultExitNetwork`, in a `TransformedDistribution` over a
  `Sample(Normal(0, 1), [784])` base (TFP's Glow maps a rank-1 latent to the
  image), with the default `grab_after_block` (half the channels exit after
  the first level, none after the last), which matches our factor-out.

PixelCNN (num_resnet=2, num_hierarchies=2, num_filters=64,
num_logistic_mix=5, dropout 0.5; the size of the peer measurements):

* `ours_pixelcnn` - `tfp_flows.models.PixelCNN`, trained through
  `make_train_step` (dropout on), evaluated through `log_prob`.
* `tfd_pixelcnn`  - a bare `tfd.PixelCNN` of the same size, trained and
  evaluated by equivalent `tf.function`s (`training=True` / `False`).

Not run by default: `ours_affine_reference` and `ours_pixelcnn_reference`,
ours with `conv_implementation='reference'` (TF's plain convolutions), to
measure what the fast convolution paths buy within one run.

For each variant, on real FashionMNIST training images:

* training-step images/s at batch 64 (one Adam step on the mean bits/dim of
  uniformly dequantised images);
* `log_prob` images/s at batch 256;
* first-call (trace + compile + first run) time of the training step and of
  `log_prob`, measured separately;
* peak RSS after the variant is set up, and overall;
* FLOPs per image of `log_prob` on a static-batch concrete function, by
  `bench/flop_count.py` (TF's profiler, plus the nested Keras functions it
  misses, counted from their shapes); training FLOPs are *estimated* as 3x
  forward. Dividing images/s x FLOPs/image by the machine's float32
  matmul rate gives a fraction of peak.

Variants are set up one after the other, then timed interleaved: after a
warm-up, each of R rounds times S training steps of every variant in turn
(the order rotates each round), then S `log_prob` calls of every variant.
Medians over rounds are reported with min/max, plus ours/tfp ratios.

Usage::

    .venv/bin/python bench/throughput.py          # full run (~55 min idle, 2 cores)
    .venv/bin/python bench/throughput.py --quick      # smoke run
    .venv/bin/python bench/throughput.py --rounds 7 --steps 10 --output /tmp/t.json
    .venv/bin/python bench/throughput.py --recount-flops  # a stored run's FLOPs

Results go to `bench/results/throughput.json` (written atomically).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# Import this checkout's tfp_flows, not whichever one the venv's editable
# install points at (benchmarks are run from frozen worktrees too).
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
import tf_keras  # noqa: E402

import tfp_flows  # noqa: E402
from tfp_flows import data  # noqa: E402
from tfp_flows import models  # noqa: E402
from tfp_flows.models import discrete  # noqa: E402
from tfp_flows.training import make_train_step  # noqa: E402
from tfp_flows.training.optimizers import make_optimizer  # noqa: E402
from tfp_flows.utils import atomic_write_json  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flop_count  # noqa: E402
from bench_setup import (  # noqa: E402
    EVAL_BATCH, HIDDEN, IMAGE_SHAPE, INIT_BATCH, LEARNING_RATE, N_BITS,
    NUM_LEVELS, NUM_STEPS, NUM_SUBPIXELS, TRAIN_BATCH, WARMUP_STEPS,
    draw_batches)

tfb = tfp.bijectors
tfd = tfp.distributions

PIXELCNN = dict(num_resnet=2, num_hierarchies=2, num_filters=64,
                num_logistic_mix=5, dropout_p=0.5)
DEFAULT_VARIANTS = ('ours_affine', 'ours_additive', 'tfp_glow',
                    'ours_pixelcnn', 'tfd_pixelcnn')
# Also available: ours with TF's plain convolutions (conv_implementation=
# 'reference'), to measure what the fast convolution paths buy.
VARIANTS = DEFAULT_VARIANTS + ('ours_affine_reference',
                               'ours_pixelcnn_reference')
# (ours, peer) pairs whose img/s ratios are reported, and the peer's short
# name in the ratio keys (`train_ours_affine_vs_tfp`, as in earlier results).
PEER_TAGS = {'tfp_glow': 'tfp', 'tfd_pixelcnn': 'tfd',
             'ours_affine_reference': 'reference',
             'ours_pixelcnn_reference': 'reference'}
PAIRS = (('ours_affine', 'tfp_glow'), ('ours_additive', 'tfp_glow'),
         ('ours_pixelcnn', 'tfd_pixelcnn'),
         ('ours_affine', 'ours_affine_reference'),
         ('ours_pixelcnn', 'ours_pixelcnn_reference'))
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'results', 'throughput.json')


def log(msg):
  print(msg, flush=True)


def peak_rss_mb():
  """Peak resident set size of this process so far, in MiB (Linux: KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


class CpuMonitor:
  """Wall time, this process's CPU time and the whole machine's busy CPU time.

  Other processes competing for the 2 cores skew a throughput benchmark, so
  each timed segment records the share of the machine's CPU capacity that
  was busy *outside* this process (`other_share`, 0 = machine otherwise
  idle, 1 = every core fully used by others). Linux only (/proc/stat).
  """

  _tick = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100

  @classmethod
  def _busy_seconds(cls):
    try:
      with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
      return float('nan')
    idle = fields[3] + fields[4]            # idle + iowait
    return (sum(fields) - idle) / cls._tick

  def __init__(self):
    self.wall = time.perf_counter()
    self.own = time.process_time()
    self.busy = self._busy_seconds()

  def other_share(self):
    wall = time.perf_counter() - self.wall
    own = time.process_time() - self.own
    busy = self._busy_seconds() - self.busy
    ncpu = len(os.sched_getaffinity(0))
    return max(0., (busy - own) / (wall * ncpu)) if wall > 0 else 0.


def wait_until_idle(max_wait_s, threshold=0.1, window_s=10.):
  """Waits (up to max_wait_s) until other processes use < threshold of the CPUs."""
  deadline = time.perf_counter() + max_wait_s
  while True:
    mon = CpuMonitor()
    time.sleep(window_s)
    share = mon.other_share()
    if share < threshold:
      log(f'machine idle enough: other processes use {100 * share:.0f}% of '
          'the CPUs')
      return share
    if time.perf_counter() > deadline:
      log(f'WARNING: other processes still use {100 * share:.0f}% of the CPUs '
          f'after waiting {max_wait_s:.0f} s; measuring anyway')
      return share
    log(f'waiting: other processes use {100 * share:.0f}% of the CPUs ...')


def git_state():
  """Commit and dirty files of the checkout the benchmark runs from."""
  try:
    commit = subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'],
                            capture_output=True, text=True, timeout=30,
                            check=True).stdout.strip()
    dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain',
                            '--', 'tfp_flows'], capture_output=True, text=True,
                           timeout=30, check=True).stdout.splitlines()
  except (OSError, subprocess.SubprocessError):
    return None
  return dict(commit=commit, tfp_flows_uncommitted=dirty)


def package_digest():
  """SHA-256 over tfp_flows' Python sources, to detect edits during a run."""
  root = os.path.dirname(os.path.abspath(tfp_flows.__file__))
  digest = hashlib.sha256()
  for directory, _, files in sorted(os.walk(root)):
    for name in sorted(files):
      if name.endswith('.py'):
        path = os.path.join(directory, name)
        digest.update(os.path.relpath(path, root).encode())
        with open(path, 'rb') as f:
          digest.update(f.read())
  return digest.hexdigest()


def count_params(variables):
  return int(sum(int(np.prod(v.shape)) for v in variables))


def bits_per_dim(log_p):
  return float(np.mean(discrete.bits_per_dim(log_p, NUM_SUBPIXELS).numpy()))


# ----------------------------------------------------------------- variants


class Variant:
  """A model under test: a train step, a log_prob call and a FLOP counter.

  Attributes:
    name: str.
    params: trainable parameter count.
    train(images_uint8_tensor, seed_tensor) -> loss tensor (mean bits/dim).
    eval(images_uint8_tensor) -> log_prob tensor (nats per image).
    log_prob_unchecked(images, seed) -> nats, traceable (for FLOP counting).
  """

  def __init__(self, name):
    self.name = name
    self.stats = {}


def peer_train_step(log_prob_fn, variables, optimizer, input_signature):
  """A peer's train step: the core of tfp_flows.training.make_train_step.

  One Adam step on the mean bits/dim of `log_prob_fn(images, seed)`, without
  our step's distribution-strategy reduction and finiteness guard (a few
  scalar ops);
  returns `(loss, global gradient norm)`, compiled with `input_signature`.
  """
  @tf.function(input_signature=input_signature, autograph=False)
  def train_step(images, seed):
    with tf.GradientTape() as tape:
      log_p = log_prob_fn(images, seed)
      loss = tf.reduce_mean(discrete.bits_per_dim(log_p, NUM_SUBPIXELS))
    grads = tape.gradient(loss, variables)
    grad_norm = tf.linalg.global_norm(grads)
    optimizer.apply_gradients(zip(grads, variables))
    return loss, grad_norm
  return train_step


def build_ours(name, coupling, init_images, conv_implementation='fast'):
  v = Variant(name)
  model = models.Glow(image_shape=IMAGE_SHAPE, num_levels=NUM_LEVELS,
                      num_steps_per_level=NUM_STEPS, hidden_channels=HIDDEN,
                      coupling=coupling,
                      conv_implementation=conv_implementation)
  v.params = count_params(model.trainable_variables)
  start = time.perf_counter()
  model.initialize(init_images)            # ActNorm data-dependent init (eager)
  v.stats['init_s'] = time.perf_counter() - start
  step = make_train_step(model, make_optimizer(LEARNING_RATE, WARMUP_STEPS),
                         TRAIN_BATCH)
  v.train = lambda images, seed: step(images, seed)[0]
  v.eval = lambda images: model.log_prob(images, seed=0)
  v.log_prob_unchecked = model.log_prob_unchecked
  v.model = model
  return v


def build_tfp_glow(name, init_images):
  """`tfp.bijectors.Glow` of the same size, trained and evaluated like ours."""
  v = Variant(name)
  glow = tfb.Glow(
      output_shape=IMAGE_SHAPE, num_glow_blocks=NUM_LEVELS,
      num_steps_per_block=NUM_STEPS,
      coupling_bijector_fn=lambda s: tfb.GlowDefaultNetwork(s, num_hidden=HIDDEN),
      exit_bijector_fn=tfb.GlowDefaultExitNetwork)
  # Glow's forward maps a rank-1 latent [H*W*C] to the image.
  latent_shape = glow.inverse_event_shape(IMAGE_SHAPE)
  assert latent_shape.as_list() == [NUM_SUBPIXELS], latent_shape
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [NUM_SUBPIXELS]), glow)
  offset = NUM_SUBPIXELS * math.log(2 ** N_BITS)

  def log_prob_unchecked(images, seed):
    # Same dequantisation as ours: (x + u) / 256, u ~ U[0, 1).
    y = discrete.dequantize(images, N_BITS, seed, tf.float32)
    return dist.log_prob(y) - offset

  # ActNorm initialises itself on its first call: warm-up call, eagerly, on
  # the same 512 images ours initialises from.
  start = time.perf_counter()
  log_prob_unchecked(tf.constant(init_images), tf.constant([0, 0], tf.int32))
  v.stats['init_s'] = time.perf_counter() - start

  variables = dist.trainable_variables
  v.params = count_params(variables)
  optimizer = make_optimizer(LEARNING_RATE, WARMUP_STEPS)
  # The batch size is part of the signature: with a `None` batch dimension
  # tracing fails inside TFP's Reshape bijector (int32 batch shape concatenated
  # with the int64 event shape `Expand` builds from numpy: "Tensors in list
  # passed to 'values' of 'ConcatV2' Op have types [int32, int64]"). Ours is
  # traced with a `None` batch dimension (its public API).
  seed_spec = tf.TensorSpec([2], tf.int32)

  def image_spec(batch):
    return tf.TensorSpec([batch] + list(IMAGE_SHAPE), tf.uint8)

  train_step = peer_train_step(log_prob_unchecked, variables, optimizer,
                               [image_spec(TRAIN_BATCH), seed_spec])

  @tf.function(input_signature=[image_spec(EVAL_BATCH), seed_spec],
               autograph=False)
  def eval_fn(images, seed):
    return log_prob_unchecked(images, seed)

  eval_seed = tf.constant([0, 0], tf.int32)
  v.train = lambda images, seed: train_step(images, seed)[0]
  v.eval = lambda images: eval_fn(images, eval_seed)
  v.log_prob_unchecked = log_prob_unchecked
  v.dist = dist
  return v


def build_ours_pixelcnn(name, conv_implementation='fast'):
  v = Variant(name)
  start = time.perf_counter()
  model = models.PixelCNN(image_shape=IMAGE_SHAPE,
                          conv_implementation=conv_implementation, **PIXELCNN)
  v.stats['init_s'] = time.perf_counter() - start
  v.params = count_params(model.trainable_variables)
  step = make_train_step(model, make_optimizer(LEARNING_RATE, WARMUP_STEPS),
                         TRAIN_BATCH)
  v.train = lambda images, seed: step(images, seed)[0]
  v.eval = lambda images: model.log_prob(images)
  v.log_prob_unchecked = model.log_prob_unchecked
  v.model = model
  return v


def build_tfd_pixelcnn(name, init_images):
  """A bare `tfd.PixelCNN` of the same size, trained and evaluated like ours."""
  v = Variant(name)
  start = time.perf_counter()
  dist = tfd.PixelCNN(image_shape=IMAGE_SHAPE, high=2 ** N_BITS - 1, low=0,
                      **PIXELCNN)
  # The first call builds the network and runs TFP's default data-dependent
  # weight-norm init, so it must see real images: on zeros (as until
  # 2026-11-30) the init divides by a zero variance, the model starts at
  # 12.4 bits/dim and diverged within 53 steps.
  dist.log_prob(tf.cast(init_images, tf.float32), training=False)
  v.stats['init_s'] = time.perf_counter() - start
  variables = dist.trainable_variables
  v.params = count_params(variables)
  optimizer = make_optimizer(LEARNING_RATE, WARMUP_STEPS)
  spec = tf.TensorSpec([None, *IMAGE_SHAPE], tf.uint8)

  def log_prob_unchecked(images, seed, training=False):
    del seed  # exact likelihood
    return dist.log_prob(tf.cast(images, tf.float32), training=training)

  # The tf_keras optimizer applies the kernels' mask constraints.
  train_step = peer_train_step(
      lambda images, seed: log_prob_unchecked(images, seed, training=True),
      variables, optimizer, [spec, tf.TensorSpec([2], tf.int32)])

  eval_fn = tf.function(lambda images: log_prob_unchecked(images, None),
                        input_signature=[spec], autograph=False)
  v.train = lambda images, seed: train_step(images, seed)[0]
  v.eval = eval_fn
  v.log_prob_unchecked = log_prob_unchecked
  v.dist = dist
  return v


def build(name, init_images):
  if name == 'ours_affine':
    return build_ours(name, 'affine', init_images)
  if name == 'ours_additive':
    return build_ours(name, 'additive', init_images)
  if name == 'tfp_glow':
    return build_tfp_glow(name, init_images)
  if name == 'ours_affine_reference':
    return build_ours(name, 'affine', init_images, 'reference')
  if name == 'ours_pixelcnn':
    return build_ours_pixelcnn(name)
  if name == 'ours_pixelcnn_reference':
    return build_ours_pixelcnn(name, 'reference')
  if name == 'tfd_pixelcnn':
    return build_tfd_pixelcnn(name, init_images)
  raise ValueError(f'unknown variant {name!r}')


# ------------------------------------------------------------ measurements


def matmul_gflops(n=2048, repeats=15, warmup=3, a_shape=None, b_shape=None,
                  dtype=tf.float32):
  """Median matmul rate in TF (GFLOP/s), 2 M K N FLOPs per product.

  Square n x n float32 matrices unless `a_shape` ([M, K]), `b_shape`
  ([K, N]) or `dtype` say otherwise.
  """
  a_shape, b_shape = a_shape or [n, n], b_shape or [n, n]
  a = tf.cast(tf.random.stateless_normal(a_shape, [1, 2]), dtype)
  b = tf.cast(tf.random.stateless_normal(b_shape, [3, 4]), dtype)

  @tf.function
  def mm(a, b):
    return tf.matmul(a, b)[0, 0]   # a slice forces the whole product

  for _ in range(warmup):
    mm(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    mm(a, b).numpy()
    times.append(time.perf_counter() - start)
  flops = 2. * a_shape[0] * a_shape[1] * b_shape[1]
  return flops / statistics.median(times) / 1e9


def count_flops(v):
  """Sets `v.stats['flops_per_image_eval']` (or `flops_error`) for a variant.

  `log_prob` at batch EVAL_BATCH, counted by `flop_count.count_flops`: TF's
  profiler on the top-level graph plus the nested (Keras) functions counted
  from their shapes. A failure is recorded, not raised, so that it cannot
  lose a run's timings.
  """
  v.stats['flops_per_image_eval'] = None
  try:
    flops, uncounted = flop_count.count_flops(
        v.log_prob_unchecked,
        [tf.TensorSpec([EVAL_BATCH] + list(IMAGE_SHAPE), tf.uint8),
         tf.TensorSpec([2], tf.int32)])
  except Exception as e:  # pylint: disable=broad-except
    v.stats['flops_error'] = f'{type(e).__name__}: {e}'[:500]
    log(f'[{v.name}] FLOP count failed: {v.stats["flops_error"]}')
    return
  v.stats['flops_per_image_eval'] = flops / EVAL_BATCH
  v.stats['flops_uncounted_ops'] = uncounted
  log(f'[{v.name}] log_prob: {flops / EVAL_BATCH / 1e6:.1f} MFLOP/image'
      + (f' ({uncounted} nested ops without shapes not counted)'
         if uncounted else ''))


def flop_fields(fpi, train_img_s, eval_img_s, peak_gflops):
  """A result row's FLOP fields: per image and as fractions of peak."""
  return dict(
      flops_per_image_eval=fpi,
      flops_per_image_train_est=None if fpi is None else 3. * fpi,
      eval_fraction_of_peak=(None if fpi is None else
                             eval_img_s * fpi / (peak_gflops * 1e9)),
      train_fraction_of_peak_est=(None if fpi is None else
                                  train_img_s * 3. * fpi / (peak_gflops * 1e9)))


def time_train(variant, batches, seeds):
  """Runs one train step per batch.

  Returns:
    `(images/s, losses, other_share)`, the last the share of the CPUs that
    other processes used meanwhile (`CpuMonitor`).
  """
  losses = []
  mon = CpuMonitor()
  start = time.perf_counter()
  for images, seed in zip(batches, seeds):
    losses.append(float(variant.train(images, seed)))
  seconds = time.perf_counter() - start
  return len(batches) * TRAIN_BATCH / seconds, losses, mon.other_share()


def time_eval(variant, batches):
  """Runs one `log_prob` call per batch; returns `(images/s, other_share)`."""
  mon = CpuMonitor()
  start = time.perf_counter()
  for images in batches:
    variant.eval(images).numpy()
  seconds = time.perf_counter() - start
  return len(batches) * EVAL_BATCH / seconds, mon.other_share()


def summary(values):
  return dict(median=statistics.median(values), min=min(values),
              max=max(values))


def finite_or_none(x):
  return None if x is None or not math.isfinite(x) else x


# ------------------------------------------------------------ the timed run


def load_batches(seed, steps):
  """FashionMNIST training batches, the same for every variant.

  A fixed pool, shared by every variant (same work per variant) and,
  through `bench_setup.draw_batches`, by `bench/pytorch_glow_peer.py`.

  Returns:
    dict: `init` (uint8 array, ActNorm's init images), `train` and `eval`
    (lists of `steps` uint8 tensors), `first_train` and `first_eval`
    (uint8 tensors for the first calls and the bits/dim before and after).
  """
  images, _ = data.load('fashion_mnist', 'train')
  log(f'data: fashion_mnist train {images.shape} {images.dtype}')
  batches = draw_batches(images, seed, steps)
  return dict(init=batches['init'],
              train=[tf.constant(b) for b in batches['train']],
              eval=[tf.constant(b) for b in batches['eval']],
              first_train=tf.constant(batches['first_train']),
              first_eval=tf.constant(batches['first_eval']))


def set_up(name, batches, seed):
  """Builds variant `name` and times its first calls; returns the Variant."""
  log(f'\n[{name}] building + ActNorm init on {INIT_BATCH} images ...')
  mon = CpuMonitor()
  v = build(name, batches['init'])
  log(f'[{name}] params {v.params:,}  init {v.stats["init_s"]:.1f} s')
  # First call of log_prob: trace + compile + one run. Before any training,
  # so it also gives the initial bits/dim.
  start = time.perf_counter()
  log_p = v.eval(batches['first_eval'])
  log_p.numpy()
  v.stats['compile_eval_s'] = time.perf_counter() - start
  v.stats['initial_bpd_eval'] = bits_per_dim(log_p)
  start = time.perf_counter()
  loss = float(v.train(batches['first_train'],
                       tf.constant([seed, 0], tf.int32)))
  v.stats['compile_train_s'] = time.perf_counter() - start
  v.stats['initial_bpd_train'] = loss     # computed before the Adam update
  v.stats['peak_rss_mb'] = peak_rss_mb()
  v.stats['other_cpu_share_setup'] = mon.other_share()
  log(f'[{name}] first call: log_prob {v.stats["compile_eval_s"]:.1f} s, '
      f'train step {v.stats["compile_train_s"]:.1f} s; initial bits/dim '
      f'{v.stats["initial_bpd_eval"]:.3f} (eval, batch {EVAL_BATCH}), '
      f'{loss:.3f} (train, batch {TRAIN_BATCH}); peak RSS '
      f'{v.stats["peak_rss_mb"]:.0f} MB; other processes used '
      f'{100 * v.stats["other_cpu_share_setup"]:.0f}% CPU meanwhile')
  return v


def warm_up(variants, batches, seed):
  """2 train steps and 1 `log_prob` call per variant, untimed."""
  log('\nwarm-up (2 train steps + 1 log_prob per variant) ...')
  for v in variants:
    for i in range(2):
      float(v.train(batches['train'][i % len(batches['train'])],
                    tf.constant([seed, 1000 + i], tf.int32)))
    v.eval(batches['eval'][0]).numpy()


def time_round(order, batches, seeds):
  """One timed round: S train steps of each variant, then S `log_prob` calls.

  Args:
    order: the variants, in this round's order.
    batches: as from `load_batches`.
    seeds: one seed tensor per train step.

  Returns:
    `(train, eval, losses, gflops, busy)`: img/s and the list of training
    losses by variant name, the matmul rate measured after them, and the
    highest share of the CPUs other processes used in any timed segment.
  """
  shares, tr, ev, ls = [], {}, {}, {}
  for v in order:
    tr[v.name], ls[v.name], share = time_train(v, batches['train'], seeds)
    shares.append(share)
  for v in order:
    ev[v.name], share = time_eval(v, batches['eval'])
    shares.append(share)
  mon = CpuMonitor()
  gflops = matmul_gflops(repeats=5, warmup=1)
  shares.append(mon.other_share())
  return tr, ev, ls, gflops, max(shares)


def run_rounds(variants, batches, args):
  """The timed rounds, interleaved; the order rotates every round.

  A round during which other processes took more than `--max-other-cpu` of
  the machine is discarded and redone (up to `--max-retries` times in all).

  Returns:
    dict: `train`, `eval` (img/s per kept round) and `losses` (every train
    step's loss, discarded rounds too) by variant name; per kept round
    `other_share` and `matmul` (GFLOP/s); `discarded` (one dict per
    discarded round).
  """
  rounds = dict(train={v.name: [] for v in variants},
                eval={v.name: [] for v in variants},
                losses={v.name: [] for v in variants},
                other_share=[], matmul=[], discarded=[])
  r = attempt = 0
  while r < args.rounds:
    attempt += 1
    k = r % len(variants)
    seeds = [tf.constant([args.seed, 10000 * attempt + i], tf.int32)
             for i in range(args.steps)]
    tr, ev, ls, gflops, busy = time_round(variants[k:] + variants[:k],
                                          batches, seeds)
    line = ('  '.join(f'{v.name} train {tr[v.name]:.1f} eval {ev[v.name]:.1f}'
                      for v in variants)
            + f'  img/s; matmul {gflops:.0f} GFLOP/s; other processes <= '
            f'{100 * busy:.0f}% CPU')
    for v in variants:
      # Training happened either way.
      rounds['losses'][v.name].extend(ls[v.name])
    if (busy > args.max_other_cpu
        and len(rounds['discarded']) < args.max_retries):
      rounds['discarded'].append(dict(train=tr, eval=ev, matmul_gflops=gflops,
                                      other_share=busy))
      log(f'round {r + 1}/{args.rounds} DISCARDED (machine busy): {line}')
      wait_until_idle(max(120., args.wait_idle), threshold=args.max_other_cpu)
      continue
    r += 1
    for v in variants:
      rounds['train'][v.name].append(tr[v.name])
      rounds['eval'][v.name].append(ev[v.name])
    rounds['other_share'].append(busy)
    rounds['matmul'].append(gflops)
    log(f'round {r}/{args.rounds}: {line}')
    if busy > args.max_other_cpu:
      log('  WARNING: other processes were busy during this round (retries '
          'used up); its numbers are skewed, ratios within it less so')
  return rounds


def measure_final_bpd(variants, first_eval):
  """Bits/dim after training, on the batch that gave the initial bits/dim.

  Every variant took the same Adam steps on the same batches: speed must
  not be bought with a worse model.
  """
  for v in variants:
    v.stats['final_bpd_eval'] = bits_per_dim(v.eval(first_eval))
    log(f'[{v.name}] bits/dim after training: '
        f'{v.stats["final_bpd_eval"]:.3f} (eval batch)')


# ----------------------------------------------------------------- results


def result_row(v, rounds, peak_gflops):
  """The JSON row of variant `v` (its `variants` entry)."""
  train_rates, eval_rates = rounds['train'][v.name], rounds['eval'][v.name]
  tr, ev = summary(train_rates), summary(eval_rates)
  fpi = v.stats['flops_per_image_eval']
  ls = rounds['losses'][v.name]
  return dict(
      name=v.name,
      params=v.params,
      train_img_s=tr['median'], train_img_s_min=tr['min'],
      train_img_s_max=tr['max'], train_img_s_rounds=train_rates,
      eval_img_s=ev['median'], eval_img_s_min=ev['min'],
      eval_img_s_max=ev['max'], eval_img_s_rounds=eval_rates,
      compile_train_s=v.stats['compile_train_s'],
      compile_eval_s=v.stats['compile_eval_s'],
      actnorm_init_s=v.stats['init_s'],
      peak_rss_mb=v.stats['peak_rss_mb'],
      other_cpu_share_during_setup=v.stats['other_cpu_share_setup'],
      **flop_fields(fpi, tr['median'], ev['median'], peak_gflops),
      flops_uncounted_ops=v.stats.get('flops_uncounted_ops'),
      flops_error=v.stats.get('flops_error'),
      initial_bpd_eval=finite_or_none(v.stats['initial_bpd_eval']),
      initial_bpd_train=finite_or_none(v.stats['initial_bpd_train']),
      final_bpd_eval=finite_or_none(v.stats['final_bpd_eval']),
      last_train_loss_bpd=finite_or_none(ls[-1]) if ls else None,
      nonfinite_train_losses=int(sum(not math.isfinite(x) for x in ls)),
      train_steps_taken=3 + len(ls),
  )


def compute_ratios(results):
  """Ours / peer ratios of img/s and parameters, for the PAIRS that ran."""
  by_name = {r['name']: r for r in results}
  ratios = {}
  for ours, peer in PAIRS:
    if ours not in by_name or peer not in by_name:
      continue
    mine, base = by_name[ours], by_name[peer]
    tag = f'{ours}_vs_{PEER_TAGS[peer]}'
    ratios[f'train_{tag}'] = mine['train_img_s'] / base['train_img_s']
    ratios[f'eval_{tag}'] = mine['eval_img_s'] / base['eval_img_s']
    # Per-round ratios (same round, adjacent in time): less noisy.
    ratios[f'train_{tag}_per_round_median'] = statistics.median(
        a / b for a, b in zip(mine['train_img_s_rounds'],
                              base['train_img_s_rounds']))
    ratios[f'eval_{tag}_per_round_median'] = statistics.median(
        a / b for a, b in zip(mine['eval_img_s_rounds'],
                              base['eval_img_s_rounds']))
    ratios[f'params_{tag}'] = mine['params'] / base['params']
  return ratios


def machine_info(matmul, rounds, idle_share, rss_baseline):
  """The JSON's `machine` object.

  Args:
    matmul: dict of GFLOP/s: `peak` (the median used for fractions of
      peak), `before` and `after` the rounds.
    rounds: as from `run_rounds`.
    idle_share: other processes' CPU share when `--wait-idle` ended (None
      when it did not wait).
    rss_baseline: peak RSS in MiB before any model was built.
  """
  return dict(
      cpu_count=os.cpu_count(),
      affinity_cpus=len(os.sched_getaffinity(0)),
      processor=platform.processor() or platform.machine(),
      platform=platform.platform(),
      matmul_gflops=matmul['peak'],
      matmul_gflops_before=matmul['before'],
      matmul_gflops_after=matmul['after'],
      matmul_gflops_per_round=rounds['matmul'],
      discarded_rounds=rounds['discarded'],
      intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
      inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
      peak_rss_mb_overall=peak_rss_mb(),
      other_processes_cpu_share_per_round=rounds['other_share'],
      other_processes_cpu_share_at_start=idle_share,
      load_average_at_end=list(os.getloadavg()),
      peak_rss_mb_before_models=rss_baseline,
      versions=dict(
          python=platform.python_version(), tensorflow=tf.__version__,
          tensorflow_probability=tfp.__version__,
          tf_keras=tf_keras.__version__, numpy=np.__version__,
          tfp_flows=getattr(tfp_flows, '__version__', None)),
  )


def run_config(args, git_at_start, digest_at_start):
  """The JSON's `config` object: arguments, sizes and code version."""
  return dict(
      rounds=args.rounds, steps=args.steps, quick=args.quick,
      seed=args.seed, image_shape=list(IMAGE_SHAPE), git=git_at_start,
      package_sources_sha256=digest_at_start,
      package_edited_during_run=package_digest() != digest_at_start,
      num_levels=NUM_LEVELS, num_steps_per_level=NUM_STEPS,
      hidden_channels=HIDDEN, pixelcnn=PIXELCNN, train_batch=TRAIN_BATCH,
      eval_batch=EVAL_BATCH, init_batch=INIT_BATCH,
      learning_rate=LEARNING_RATE, warmup_steps=WARMUP_STEPS,
      data='fashion_mnist/train',
      max_other_cpu=args.max_other_cpu, max_retries=args.max_retries,
      notes=('train FLOPs are estimated as 3x the counted '
             'log_prob FLOPs; fractions of peak use the median of the '
             'matmul rates measured before, in each kept round and after '
             'the rounds; peak_rss_mb is '
             'ru_maxrss after the variant was set up (variants are set '
             'up in order, so it is cumulative)'),
  )


def utc_timestamp():
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


# --------------------------------------------------------------------- main


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--rounds', type=int, default=5,
                 help='timed rounds (interleaved over variants); default 5')
  p.add_argument('--steps', type=int, default=10,
                 help='train steps and log_prob calls per variant per round; '
                      'default 10')
  p.add_argument('--quick', action='store_true',
                 help='smoke run: --rounds 2 --steps 3')
  p.add_argument('--variants', default=','.join(DEFAULT_VARIANTS),
                 help=f'comma-separated subset of {",".join(VARIANTS)}')
  p.add_argument('--output', default=DEFAULT_OUTPUT,
                 help='JSON results path (default bench/results/throughput.json)')
  p.add_argument('--seed', type=int, default=0, help='batch sampling seed')
  p.add_argument('--recount-flops', action='store_true',
                 help='time nothing: rebuild the variants of the stored '
                      '--output run, count their FLOPs again and update its '
                      'FLOP fields and fractions of peak in place')
  p.add_argument('--max-other-cpu', type=float, default=0.1,
                 metavar='FRACTION',
                 help='discard and redo a round if other processes used more '
                      'than this fraction of the CPUs during it (default 0.1)')
  p.add_argument('--max-retries', type=int, default=10,
                 help='total number of rounds that may be discarded (default 10)')
  p.add_argument('--wait-idle', type=float, default=0., metavar='SECONDS',
                 help='first wait up to this long for other processes to '
                      'leave the CPUs idle (default 0: do not wait); after a '
                      'discarded round, wait up to max(120, this)')
  args = p.parse_args(argv)
  if args.quick:
    args.rounds, args.steps = 2, 3
  if args.rounds < 1 or args.steps < 1:
    p.error('--rounds and --steps must be positive')
  args.variants = [v.strip() for v in args.variants.split(',') if v.strip()]
  for v in args.variants:
    if v not in VARIANTS:
      p.error(f'unknown variant {v!r}; choose from {VARIANTS}')
  return args


def recount_flops(path, seed):
  """Recounts the FLOPs of a stored run's variants; rewrites `path`.

  FLOPs depend only on the models' graphs, not on timing, so a stored run's
  FLOP fields can be corrected without rerunning it; its images/s and
  matmul rate are kept, and `config.flops_recounted` records when and with
  which code.
  """
  if not os.path.exists(path):
    raise SystemExit(f'--recount-flops: no stored run at {path}')
  with open(path) as f:
    out = json.load(f)
  images, _ = data.load('fashion_mnist', 'train')
  init_images = draw_batches(images, seed, 1)['init']
  peak = out['machine']['matmul_gflops']
  for row in out['variants']:
    tf.random.set_seed(seed)
    v = build(row['name'], init_images)
    count_flops(v)
    row.update(flop_fields(v.stats['flops_per_image_eval'],
                           row['train_img_s'], row['eval_img_s'], peak))
    row['flops_uncounted_ops'] = v.stats.get('flops_uncounted_ops')
    row['flops_error'] = v.stats.get('flops_error')
  out['config']['flops_recounted'] = dict(
      timestamp=utc_timestamp(), git=git_state(),
      package_sources_sha256=package_digest())
  atomic_write_json(path, out)
  print_table(out)
  log(f'\nrecounted FLOPs in {path}')
  return out


def main(argv=None):
  """Runs the benchmark (or `--recount-flops`); returns the results dict."""
  args = parse_args(argv)
  if args.recount_flops:
    return recount_flops(args.output, args.seed)
  t_start = time.perf_counter()
  git_at_start = git_state()
  digest_at_start = package_digest()
  tf.random.set_seed(args.seed)   # TFP Glow's Keras initialisers and 1x1 convs

  log(f'tfp_flows throughput bench: rounds={args.rounds} steps={args.steps} '
      f'variants={args.variants}')
  batches = load_batches(args.seed, args.steps)
  idle_share = (wait_until_idle(args.wait_idle) if args.wait_idle > 0
                else None)
  matmul = dict(before=matmul_gflops())
  log(f'float32 matmul 2048^3: {matmul["before"]:.1f} GFLOP/s (median of 15)')
  rss_baseline = peak_rss_mb()

  # Set up one variant after the other (init, first calls), then time them
  # interleaved.
  variants = [set_up(name, batches, args.seed) for name in args.variants]
  warm_up(variants, batches, args.seed)
  rounds = run_rounds(variants, batches, args)
  measure_final_bpd(variants, batches['first_eval'])

  matmul['after'] = matmul_gflops()
  log(f'\nfloat32 matmul after the rounds: {matmul["after"]:.1f} GFLOP/s')
  matmul['peak'] = statistics.median(
      [matmul['before']] + rounds['matmul'] + [matmul['after']])
  # FLOPs per image after timing, so the extra traces do not touch RSS. A
  # failure here must not lose the timings: count_flops records it.
  for v in variants:
    count_flops(v)

  results = [result_row(v, rounds, matmul['peak']) for v in variants]
  out = dict(
      timestamp=utc_timestamp(),
      variants=results,
      ratios=compute_ratios(results),
      machine=machine_info(matmul, rounds, idle_share, rss_baseline),
      config=run_config(args, git_at_start, digest_at_start),
      wall_seconds=time.perf_counter() - t_start,
  )
  atomic_write_json(args.output, out)
  print_table(out)
  if out['config']['package_edited_during_run']:
    log('\nWARNING: tfp_flows sources changed while the benchmark ran; the '
        'numbers mix versions (see config.git)')
  log(f'\nwrote {args.output}  (total {out["wall_seconds"] / 60:.1f} min)')
  return out


# ------------------------------------------------------------------- table


def print_table(out):
  """Prints a run's results (from `main` or a stored JSON) as tables."""
  peak = out['machine']['matmul_gflops']
  log(f'\nMachine: {out["machine"]["cpu_count"]} CPUs, float32 matmul '
      f'{peak:.0f} GFLOP/s; TF {out["machine"]["versions"]["tensorflow"]}, '
      f'TFP {out["machine"]["versions"]["tensorflow_probability"]}; '
      f'{out["config"]["rounds"]} rounds x {out["config"]["steps"]} steps, '
      'median [min-max]')
  header = (f'{"variant":<14} {"params":>8} {"train img/s":>22} '
            f'{"eval img/s":>23} {"compile s":>13} {"RSS MB":>7} '
            f'{"MFLOP/img":>9} {"%peak":>11} {"init bpd":>9}')
  log(header)
  log(f'{"":<14} {"":>8} {"(batch 64)":>22} {"(batch 256)":>23} '
      f'{"train / eval":>13} {"":>7} {"(eval)":>9} {"train*/eval":>11}')
  log('-' * len(header))
  for r in out['variants']:
    log(table_row(r))
  log('(* train FLOPs estimated as 3x the counted log_prob FLOPs)')
  if out['ratios']:
    print_ratios(out['ratios'])
  log('\nLosses (bits/dim): initial eval / initial train step / last train '
      'step / eval after training')
  for r in out['variants']:
    log(f'  {r["name"]:<14} {r["initial_bpd_eval"]} / {r["initial_bpd_train"]}'
        f' / {r["last_train_loss_bpd"]} / {r.get("final_bpd_eval")}  '
        f'(non-finite train losses: {r["nonfinite_train_losses"]})')


def table_row(r):
  """One variant's line of the main table."""
  train = (f'{r["train_img_s"]:.1f} [{r["train_img_s_min"]:.1f}-'
           f'{r["train_img_s_max"]:.1f}]')
  ev = (f'{r["eval_img_s"]:.1f} [{r["eval_img_s_min"]:.1f}-'
        f'{r["eval_img_s_max"]:.1f}]')
  comp = f'{r["compile_train_s"]:.1f} / {r["compile_eval_s"]:.1f}'
  fpi = r['flops_per_image_eval']
  pk = ('n/a' if fpi is None else
        f'{100 * r["train_fraction_of_peak_est"]:.1f}/'
        f'{100 * r["eval_fraction_of_peak"]:.1f}')
  mflop = 'n/a' if fpi is None else f'{fpi / 1e6:.1f}'
  bpd = r['initial_bpd_eval']
  return (f'{r["name"]:<14} {r["params"]:>8,} {train:>22} {ev:>23} {comp:>13} '
          f'{r["peak_rss_mb"]:>7.0f} {mflop:>9} '
          f'{pk:>11} {("nan" if bpd is None else f"{bpd:.2f}"):>9}')


def print_ratios(rt):
  """The ours / peer ratios of a run's `ratios` object."""
  log('\nRatios ours / peer (median img/s; per-round median in brackets):')
  for ours, peer in PAIRS:
    k = f'{ours}_vs_{PEER_TAGS[peer]}'
    if f'train_{k}' in rt:
      log(f'  {ours:<14} / {peer:<13} train {rt["train_" + k]:.2f}x '
          f'[{rt["train_" + k + "_per_round_median"]:.2f}x]   eval '
          f'{rt["eval_" + k]:.2f}x '
          f'[{rt["eval_" + k + "_per_round_median"]:.2f}x]   params '
          f'{rt["params_" + k]:.3f}x')


if __name__ == '__main__':
  main(sys.argv[1:])
