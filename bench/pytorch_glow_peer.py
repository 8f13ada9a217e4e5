#!/usr/bin/env python
"""The PyTorch peer of issue 5: a Glow from `normflows`, timed like ours.

Issue 5 compares our Glow with "a popular PyTorch Glow of the same size"
(869k parameters; measured by others at 84-98 img/s training and
284-376 img/s evaluation on a faster 2-core machine) and asks for that
comparison to be rerun side by side on this machine. PyTorch and TensorFlow
do not share a process well (two thread pools on two cores), so the peer
runs in its own venv (`.venv-torch`, made by `bench/setup_pytorch_peer.sh`)
right after `bench/throughput.py`, with the same protocol:

* the model: `normflows` (a widely used PyTorch flow library) Glow blocks
  (ActNorm, LU-parameterised invertible 1x1 conv, affine coupling whose
  network is conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero-initialised conv3x3,
  sigmoid scale), 2 levels x 16 steps, 128 hidden channels, squeeze before
  each level and half the channels factored out after the first, the same
  layout as ours and `tfp.bijectors.Glow` in `throughput.py`; learned
  diagonal-Gaussian priors. 869,152 parameters (the notes' 869k) against
  our 867,660;
* the data: the same FashionMNIST training batches `throughput.py` draws
  (same seed, same draws), 28x28x1 uint8, dequantised as `(x + u) / 256`;
* loss: mean bits/dim, `-(log p(y) - D log 256) / (D log 2)`; Adam(1e-3)
  with the same 20-step linear warm-up; ActNorm's data-dependent init on
  the same 512 images;
* timing: 2 warm-up steps, then R rounds of S training steps (batch 64) and
  S `log_prob` calls (batch 256, `torch.inference_mode`); medians over
  rounds with min/max; first call times; peak RSS; bits/dim on the first
  eval batch before and after training.

    bench/setup_pytorch_peer.sh                 # once: .venv-torch
    .venv-torch/bin/python bench/pytorch_glow_peer.py [--rounds 5 --steps 10]

Writes `bench/results/pytorch_peer.json` (atomically), with the ratios of
ours to this peer when `bench/results/throughput.json` exists (the times of
both runs are recorded: they are side by side, not interleaved).
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import normflows as nf  # noqa: E402

# numpy-only parts of tfp_flows (no TensorFlow in this venv).
from tfp_flows import data  # noqa: E402
from tfp_flows.utils import atomic_write_json  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_setup import (  # noqa: E402
    EVAL_BATCH, HIDDEN, INIT_BATCH, LEARNING_RATE, NUM_LEVELS, NUM_STEPS,
    NUM_SUBPIXELS, TRAIN_BATCH, WARMUP_STEPS, draw_batches)

LOG_BINS = math.log(256.)


def build_glow():
  """normflows multi-scale Glow for 1x28x28 images (NCHW).

  `MultiscaleFlow` lists levels coarsest first, each in the sampling
  direction (blocks, then `Squeeze`, whose inverse squeezes); `log_prob`
  runs them finest first.
  """
  flows, priors, merges = [], [], []
  for level in range(NUM_LEVELS):    # 0 = coarsest (7x7), 1 = finest (14x14)
    channels = 4 * 2 ** (NUM_LEVELS - 1 - level)
    flows.append([nf.flows.GlowBlock(channels, HIDDEN, split_mode='channel',
                                     scale=True)
                  for _ in range(NUM_STEPS)] + [nf.flows.Squeeze()])
    side = 28 // 2 ** (NUM_LEVELS - level)
    if level == 0:
      priors.append(nf.distributions.DiagGaussian((channels, side, side)))
    else:
      # Half of this level's channels leave at its end (the split).
      priors.append(nf.distributions.DiagGaussian((channels // 2, side, side)))
      merges.append(nf.flows.Merge())
  return nf.MultiscaleFlow(priors, flows, merges, class_cond=False)


def dequantise(images, generator):
  """uint8 NHWC numpy -> float32 NCHW torch in [0, 1): `(x + u) / 256`."""
  x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
  u = torch.rand(x.shape, generator=generator)
  return (x + u) / 256.


def bits_per_dim(log_density):
  """Continuous log-density of `[0, 1)` images -> discrete bits/dim."""
  return -(log_density - NUM_SUBPIXELS * LOG_BINS) / (NUM_SUBPIXELS *
                                                       math.log(2.))


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--rounds', type=int, default=5)
  p.add_argument('--steps', type=int, default=10)
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'pytorch_peer.json'))
  p.add_argument('--throughput', default=os.path.join(
      REPO, 'bench', 'results', 'throughput.json'),
                 help='our figures, for the ratios (if the file exists)')
  args = p.parse_args()
  if args.rounds < 1 or args.steps < 1:
    p.error('--rounds and --steps must be >= 1')
  t_start = time.perf_counter()
  torch.manual_seed(args.seed)
  generator = torch.Generator().manual_seed(args.seed)
  images, _ = data.load('fashion_mnist', 'train')
  batches = draw_batches(images, args.seed, args.steps)
  init, train_batches, eval_batches = (batches['init'], batches['train'],
                                       batches['eval'])
  first_train, first_eval = batches['first_train'], batches['first_eval']
  print(f'torch {torch.__version__}, normflows {nf.__version__}, '
        f'{torch.get_num_threads()} intra-op threads', flush=True)

  model = build_glow()
  params = sum(t.numel() for t in model.parameters() if t.requires_grad)
  start = time.perf_counter()
  with torch.no_grad():              # ActNorm's data-dependent init
    model.log_prob(dequantise(init, generator), None)
  init_s = time.perf_counter() - start
  optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
  schedule = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda step: min(1., (step + 1) / WARMUP_STEPS))

  def train_step(images):
    loss = bits_per_dim(model.log_prob(dequantise(images, generator),
                                       None)).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.item()

  def evaluate(images):
    with torch.inference_mode():
      return bits_per_dim(model.log_prob(dequantise(images, generator), None))

  model.train()
  start = time.perf_counter()
  initial_bpd_eval = float(evaluate(first_eval).mean())
  compile_eval_s = time.perf_counter() - start
  start = time.perf_counter()
  initial_bpd_train = train_step(first_train)
  compile_train_s = time.perf_counter() - start
  rss_setup = peak_rss_mb()
  print(f'params {params:,}; ActNorm init {init_s:.1f} s; first calls: '
        f'log_prob {compile_eval_s:.1f} s, train {compile_train_s:.1f} s; '
        f'initial bits/dim {initial_bpd_eval:.3f}', flush=True)
  for i in range(2):
    train_step(train_batches[i % len(train_batches)])
  evaluate(eval_batches[0])

  train_rates, eval_rates, losses = [], [], []
  for r in range(args.rounds):
    start = time.perf_counter()
    for images in train_batches:
      losses.append(train_step(images))
    train_rates.append(TRAIN_BATCH * len(train_batches) /
                       (time.perf_counter() - start))
    start = time.perf_counter()
    for images in eval_batches:
      evaluate(images)
    eval_rates.append(EVAL_BATCH * len(eval_batches) /
                      (time.perf_counter() - start))
    print(f'round {r + 1}/{args.rounds}: train {train_rates[-1]:.1f} '
          f'eval {eval_rates[-1]:.1f} img/s', flush=True)
  final_bpd_eval = float(evaluate(first_eval).mean())

  variant = dict(
      name='pytorch_glow_normflows', params=params,
      train_img_s=statistics.median(train_rates),
      train_img_s_min=min(train_rates), train_img_s_max=max(train_rates),
      train_img_s_rounds=train_rates,
      eval_img_s=statistics.median(eval_rates),
      eval_img_s_min=min(eval_rates), eval_img_s_max=max(eval_rates),
      eval_img_s_rounds=eval_rates,
      compile_train_s=compile_train_s, compile_eval_s=compile_eval_s,
      actnorm_init_s=init_s, peak_rss_mb=rss_setup,
      initial_bpd_eval=initial_bpd_eval, initial_bpd_train=initial_bpd_train,
      last_train_loss_bpd=losses[-1], final_bpd_eval=final_bpd_eval,
      nonfinite_train_losses=sum(not math.isfinite(x) for x in losses),
      train_steps_taken=1 + 2 + len(losses))
  result = dict(
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
      variant=variant,
      config=dict(rounds=args.rounds, steps=args.steps, seed=args.seed,
                  num_levels=NUM_LEVELS, num_steps_per_level=NUM_STEPS,
                  hidden_channels=HIDDEN, train_batch=TRAIN_BATCH,
                  eval_batch=EVAL_BATCH, init_batch=INIT_BATCH,
                  learning_rate=LEARNING_RATE, warmup_steps=WARMUP_STEPS),
      machine=dict(cpu_count=os.cpu_count(), platform=platform.platform(),
                   torch_threads=torch.get_num_threads(),
                   load_average_at_end=list(os.getloadavg()),
                   versions=dict(python=platform.python_version(),
                                 torch=torch.__version__,
                                 normflows=nf.__version__,
                                 numpy=np.__version__)),
      wall_seconds=time.perf_counter() - t_start)
  if os.path.exists(args.throughput):
    with open(args.throughput) as f:
      ours = json.load(f)
    result['ours_from'] = dict(file=os.path.relpath(args.throughput, REPO),
                               timestamp=ours['timestamp'])
    result['ratios'] = {}
    for v in ours['variants']:
      if v['name'].startswith('ours_') and 'pixelcnn' not in v['name']:
        for key in ('train', 'eval'):
          result['ratios'][f'{key}_{v["name"]}_vs_pytorch'] = (
              v[f'{key}_img_s'] / variant[f'{key}_img_s'])
  atomic_write_json(args.output, result)
  print(f'pytorch_glow_normflows: train {variant["train_img_s"]:.1f} '
        f'[{variant["train_img_s_min"]:.1f}-{variant["train_img_s_max"]:.1f}]'
        f' img/s, log_prob {variant["eval_img_s"]:.1f} '
        f'[{variant["eval_img_s_min"]:.1f}-{variant["eval_img_s_max"]:.1f}]'
        f' img/s; bits/dim {initial_bpd_eval:.3f} -> {final_bpd_eval:.3f}')
  for name, ratio in result.get('ratios', {}).items():
    print(f'  {name}: {ratio:.2f}x')
  print(f'Wrote {args.output}')


if __name__ == '__main__':
  main()
