"""The paper's noise experiment at both placements, with both PixelCNN scores.

Runs `bin/analyze_sits` (resumable: OUT/cache) on one Glow and one PixelCNN
trained on the same data set, with the paper's six continuous noises
(eps = 0.001; N(0, 1), 1/256 + N(0, 1), U[-1/256, 0]; all pixels or the
background) at the bin edge (the paper's placement) and at the bin centre,
on a class-stratified sample of the model's test split and of its real OoD
set. Then prints, as Markdown:

* the mean change of bits/dim per noise, placement, model and score, with
  95% bootstrap intervals (in-distribution images);
* for each PixelCNN score, whether the paper's "PixelCNN is more sensitive
  to noise than Glow" holds, by this rule: for a noise and placement it
  holds when the PixelCNN's interval lies entirely above the Glow's, is
  reversed when it lies entirely below, and is undecided otherwise.

  .venv/bin/python bench/paper_noise_comparison.py --glow_dir=runs/A \
      --pixelcnn_dir=runs/B --output_dir=runs/noise_A [--num_images=500]

The table is also written to OUT/comparison.md.
"""

import argparse
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tfp_flows import data  # pylint: disable=g-import-not-at-top
from tfp_flows.utils import atomic  # pylint: disable=g-import-not-at-top

DISTRIBUTIONS = ('normal', 'normal_shifted', 'uniform_negative')
MASKS = ('all', 'background')
PLACEMENTS = ('edge', 'centre')


def noise_names():
  return [f'noise_{d}_eps0.001_{m}_{p}' for p in PLACEMENTS
          for d in DISTRIBUTIONS for m in MASKS]


def _verdict(pixelcnn, glow):
  """'holds' / 'reversed' / 'undecided' from two 95% intervals of a delta."""
  if pixelcnn['ci95'][0] > glow['ci95'][1]:
    return 'holds'
  if pixelcnn['ci95'][1] < glow['ci95'][0]:
    return 'reversed'
  return 'undecided'


def _cell(delta):
  return (f'{delta["mean"]:+.3f} [{delta["ci95"][0]:+.3f}, '
          f'{delta["ci95"][1]:+.3f}]')


def render(summary, glow, pixelcnn):
  """Markdown tables from a study summary (in-distribution rows)."""
  results = {}
  for r in summary['results']:
    if r['role'] == 'in':
      results[(r['model'], r['sit'], r['evaluation'])] = r
  clean = {(c['model'], c['dataset']): c for c in summary['clean']}
  dataset = next(r['dataset'] for r in summary['results']
                 if r['model'] == glow and r['role'] == 'in')
  lines = [f'In-distribution: {dataset}, '
           f'{clean[(glow, dataset)]["count"]} images. Mean change of '
           'bits/dim (after - before) with 95% bootstrap intervals; '
           '"before" is the score at the same clean point.', '',
           '| noise | mask | placement | Glow (density) | PixelCNN density '
           '| PixelCNN conditioned | clean: Glow / PixelCNN density / '
           'conditioned |', '|---|---|---|---|---|---|---|']
  verdicts = {'continuous': [], 'conditioned': []}
  for placement in PLACEMENTS:
    for distribution in DISTRIBUTIONS:
      for mask in MASKS:
        sit = f'noise_{distribution}_eps0.001_{mask}_{placement}'
        g = results[(glow, sit, 'continuous')]
        p = results[(pixelcnn, sit, 'continuous')]
        c = results[(pixelcnn, sit, 'conditioned')]
        for name, entry in (('continuous', p), ('conditioned', c)):
          verdicts[name].append((sit, _verdict(entry['delta'], g['delta'])))
        lines.append(
            f'| {distribution} | {mask} | {placement} | {_cell(g["delta"])} '
            f'| {_cell(p["delta"])} | {_cell(c["delta"])} | '
            f'{g["bpd_before"]["mean"]:.3f} / {p["bpd_before"]["mean"]:.3f} '
            f'/ {c["bpd_before"]["mean"]:.3f} |')
  lines += ['', '"PixelCNN is more sensitive to noise than Glow" (PixelCNN '
            'interval entirely above the Glow\'s: holds; entirely below: '
            'reversed):', '',
            '| PixelCNN score | placement | holds | reversed | undecided |',
            '|---|---|---|---|---|']
  for name, label in (('continuous', 'density'),
                      ('conditioned', 'conditioned')):
    for placement in PLACEMENTS:
      mine = [v for sit, v in verdicts[name] if sit.endswith(placement)]
      lines.append(f'| {label} | {placement} | {mine.count("holds")} | '
                   f'{mine.count("reversed")} | {mine.count("undecided")} |')
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--glow_dir', required=True)
  parser.add_argument('--pixelcnn_dir', required=True)
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--num_images', type=int, default=500)
  args = parser.parse_args()
  if args.num_images <= 0:
    parser.error('--num_images must be positive')
  glow = os.path.basename(os.path.normpath(args.glow_dir))
  pixelcnn = os.path.basename(os.path.normpath(args.pixelcnn_dir))
  if glow == pixelcnn:
    parser.error('the two model directories need different names')
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--model_dir={args.glow_dir}', f'--model_dir={args.pixelcnn_dir}',
         f'--output_dir={args.output_dir}', f'--num_images={args.num_images}',
         '--sits=' + ','.join(noise_names())]
  # Only the model's real OoD set besides its own test split.
  config = os.path.join(args.glow_dir, 'operative_config.gin')
  if not os.path.exists(config):
    parser.error(f'{config} is missing: not a bin/train model directory')
  with open(config) as f:
    match = re.search(r"^train\.dataset\s*=\s*'(\w+)'", f.read(), re.M)
  if not match:
    parser.error(f'{config} does not name train.dataset')
  other = data.ood_dataset_for(match[1])
  cmd.append(f"--gin_param=analyze_sits.datasets = ['{other}']")
  subprocess.run(cmd, check=True)
  with open(os.path.join(args.output_dir, 'summary.json')) as f:
    summary = json.load(f)
  text = render(summary, glow, pixelcnn)
  atomic.atomic_write_text(os.path.join(args.output_dir, 'comparison.md'),
                           text)
  print(text)


if __name__ == '__main__':
  main()
