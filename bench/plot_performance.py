#!/usr/bin/env python
"""The performance figure of docs/PERFORMANCE.md, from the benchmark JSONs.

Left: training and `log_prob` images/s per variant (median, min-max bars)
from `bench/results/throughput.json` (plus the PyTorch Glow of
`bench/results/pytorch_peer.json`, marked *: timed side by side). Right, if
`bench/results/analysis.json` exists: where the wall time of a full `bin/analyze_sits` run goes, per
research model, next to bare evaluation of the same scorings.

    .venv/bin/python bench/plot_performance.py [--output docs/performance.png]
"""

import argparse
import io
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfp_flows.utils import atomic  # noqa: E402

RESULTS = os.path.join(REPO, 'bench', 'results')


def _throughput_panel(ax, throughput):
  variants = throughput['variants']
  names = [v['name'] for v in variants]
  x = np.arange(len(names))
  width = 0.38
  for offset, key, label in ((-width / 2, 'train', 'training step (batch 64)'),
                             (width / 2, 'eval', 'log_prob (batch 256)')):
    median = np.array([v[f'{key}_img_s'] for v in variants])
    low = median - np.array([v[f'{key}_img_s_min'] for v in variants])
    high = np.array([v[f'{key}_img_s_max'] for v in variants]) - median
    bars = ax.bar(x + offset, median, width, yerr=[low, high], capsize=3,
                  label=label)
    ax.bar_label(bars, fmt='%.0f', fontsize=7, padding=2)
  ax.set_xticks(x, names, rotation=20, ha='right', fontsize=8)
  ax.set_ylabel('images / s (2 CPU cores)')
  ax.set_title(f'Throughput ({throughput["timestamp"][:10]}, median of '
               f'{throughput["config"]["rounds"]} interleaved rounds)',
               fontsize=9)
  ax.legend(fontsize=8)


def _analysis_panel(ax, analysis):
  names = sorted(analysis)
  parts = (('model_seconds', 'model evaluation'),
           ('transform_seconds', 'SIT transforms'),
           ('classifier_seconds', 'classifiers + pixel stats'),
           ('figure_seconds', 'figures'), ('tensorboard_seconds', 'TensorBoard'))
  bottom = np.zeros(len(names))
  x = np.arange(len(names))
  for key, label in parts:
    values = np.array([analysis[n]['timing'].get(key, 0.) / 60 for n in names])
    ax.bar(x, values, 0.5, bottom=bottom, label=label)
    bottom += values
  rest = np.array([analysis[n]['wall_seconds'] / 60 for n in names]) - bottom
  ax.bar(x, np.maximum(rest, 0), 0.5, bottom=bottom,
         label='start-up, data, statistics')
  bare = [analysis[n].get('bare_model_seconds') for n in names]
  for i, b in enumerate(bare):
    if b is not None:
      ax.plot([i - 0.3, i + 0.3], [b / 60] * 2, 'k--', lw=1.2,
              label='bare evaluation' if i == 0 else None)
      ax.text(i, analysis[names[i]]['wall_seconds'] / 60,
              f'{analysis[names[i]]["ratio_to_bare_eval"]:.2f}x', ha='center',
              va='bottom', fontsize=8)
  ax.set_xticks(x, names, rotation=20, ha='right', fontsize=8)
  ax.set_ylabel('minutes')
  ax.set_title('Full bin/analyze_sits run (10,000 + 10,000 images)',
               fontsize=9)
  ax.legend(fontsize=7)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--output', default=os.path.join(REPO, 'docs',
                                                       'performance.png'))
  args = parser.parse_args()
  with open(os.path.join(RESULTS, 'throughput.json')) as f:
    throughput = json.load(f)
  peer_path = os.path.join(RESULTS, 'pytorch_peer.json')
  if os.path.exists(peer_path):
    # Timed side by side (its own process, right after), not interleaved.
    with open(peer_path) as f:
      peer = json.load(f)['variant']
    variants = list(throughput['variants'])
    at = next((i + 1 for i, v in enumerate(variants)
               if v['name'] == 'tfp_glow'), len(variants))
    variants.insert(at, dict(peer, name='pytorch_glow*'))
    throughput = dict(throughput, variants=variants)
  analysis_path = os.path.join(RESULTS, 'analysis.json')
  analysis = None
  if os.path.exists(analysis_path):
    with open(analysis_path) as f:
      analysis = json.load(f)
  fig, axes = plt.subplots(1, 2 if analysis else 1,
                           figsize=(11 if analysis else 6, 4.2), squeeze=False)
  _throughput_panel(axes[0, 0], throughput)
  if analysis:
    _analysis_panel(axes[0, 1], analysis)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, dpi=120, format='png')
  plt.close(fig)
  atomic.atomic_write_bytes(args.output, buffer.getvalue())
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
