#!/usr/bin/env python
"""Which pixels carry a PixelCNN's likelihood and its likelihood ratio.

A diagnosis of the likelihood-ratio score (`tfp_flows.ood.likelihood_ratio`)
made after the background model was chosen: it reads the real OoD set. For
a seeded, class-stratified sample of the model's own test set and of the
OoD set it computes every pixel's conditional log-probability under the
model and under its background (`PixelCNN.pixel_log_probs`) and splits each
image's score into the share of its black pixels (grey level 0, the
MNIST-like sets' background) and of the rest (the object):

  score(x) = sum over black pixels + sum over the others   (bits/dim)

for the raw likelihood (the model's bits/dim), the background's bits/dim
and their difference, the likelihood ratio. Each part gets its AUROC (own
set = negatives, OoD set = positives, 95% bootstrap interval), so the table
says whether the ratio fails because of the black pixels (which the
background was meant to cancel) or of the object's.

  .venv/bin/python bench/likelihood_ratio_pixels.py \
      [--model_dir=checkpoints/pixelcnn_fashion_mnist] \
      [--background_dir=checkpoints/pixelcnn_fashion_mnist_background] \
      [--num_images=2000]

Writes bench/results/likelihood_ratio_pixels_<dataset>.json, .md and a
figure of the mean per-pixel maps (.png), atomically, when all is done.
"""

import argparse
import io
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top

QUANTITIES = ('likelihood', 'background', 'likelihood_ratio')
PARTS = ('black', 'object', 'all')
OTHER = {'fashion_mnist': 'mnist', 'mnist': 'fashion_mnist'}


def pixel_log_probs(model, images, batch_size=256):
  """`[N, H, W]` float64: each pixel's log P(x_i | x_<i), nats."""
  out = np.empty(images.shape[:3], np.float64)
  for start in range(0, len(images), batch_size):
    terms = model.pixel_log_probs(images[start:start + batch_size]).numpy()
    out[start:start + len(terms)] = terms
  return out


def split_by_black(maps, images):
  """Per image, the sums of `maps` over black pixels and over the rest.

  Args:
    maps: float `[N, H, W]`, per-pixel shares of a score.
    images: uint8 `[N, H, W, C]`; a pixel is black when all its channels are
      0.

  Returns:
    {'black': [N], 'object': [N], 'all': [N]} float64.
  """
  black = np.all(images == 0, axis=-1)
  on_black = np.where(black, maps, 0.).sum(axis=(1, 2))
  total = maps.sum(axis=(1, 2))
  return {'black': on_black, 'object': total - on_black, 'all': total}


def analyse(model, background, sets, num_resamples=1000, seed=0):
  """The table's numbers and the figure's mean maps.

  Args:
    model, background: loaded PixelCNNs (`models.load`), background checked.
    sets: {'in': uint8 images, 'out': uint8 images}.

  Returns:
    (table, maps): table[quantity][part] = {'mean_in', 'mean_out' (bits/dim
    per image), 'auroc' (Interval dict)}, plus table['black_fraction'] =
    {'in', 'out'}; maps[set][quantity] = mean `[H, W]` bits/dim map.
  """
  from tfp_flows.ood import likelihood_ratio, metrics  # pylint: disable=g-import-not-at-top
  parts, maps = {}, {}
  for role, images in sets.items():
    model_terms = pixel_log_probs(model, images)
    background_terms = pixel_log_probs(background, images)
    to_bits_per_dim = -1. / (model.num_subpixels * np.log(2.))
    per_quantity = {
        'likelihood': model_terms * to_bits_per_dim,
        'background': background_terms * to_bits_per_dim,
        'likelihood_ratio': likelihood_ratio.likelihood_ratio_map(
            model_terms, background_terms, model.num_subpixels)}
    parts[role] = {q: split_by_black(m, images)
                   for q, m in per_quantity.items()}
    maps[role] = {q: m.mean(axis=0) for q, m in per_quantity.items()}
  table = {}
  for q in QUANTITIES:
    table[q] = {}
    for part in PARTS:
      neg, pos = parts['in'][q][part], parts['out'][q][part]
      table[q][part] = dict(
          mean_in=float(neg.mean()), mean_out=float(pos.mean()),
          auroc=metrics.detection_metrics(
              neg, pos, num_resamples=num_resamples,
              seed=seed).as_dict()['auroc'])
  table['black_fraction'] = {
      role: float(np.all(images == 0, axis=-1).mean())
      for role, images in sets.items()}
  return table, maps


def render(summary):
  """The Markdown report."""
  d, ood = summary['dataset'], summary['ood_dataset']
  t = summary['table']
  names = {'likelihood': 'likelihood (model bits/dim)',
           'background': 'background bits/dim',
           'likelihood_ratio': 'likelihood ratio (model - background)'}
  lines = [
      f'# Where the likelihood ratio comes from: {d} against {ood}', '',
      f'Model `{summary["model_dir"]}`, background '
      f'`{summary["background_dir"]}`; {summary["num_images"]} '
      f'class-stratified test images of each set (seed {summary["seed"]}). '
      'Each image\'s score (bits/dim, higher = more OoD) is split into the '
      'share of its black pixels (grey level 0) and of the rest (the '
      'object); the three add up. AUROC of each part alone, '
      f'{d} = in, {ood} = out, 95% bootstrap intervals. A diagnosis after '
      f'the background was chosen: it reads {ood}.', '',
      f'Black pixels: {100 * t["black_fraction"]["in"]:.1f}% of {d}\'s, '
      f'{100 * t["black_fraction"]["out"]:.1f}% of {ood}\'s.', '',
      f'| score | part | mean on {d} | mean on {ood} | AUROC |',
      '|---|---|---|---|---|']
  for q in QUANTITIES:
    for part in PARTS:
      r = t[q][part]
      a = r['auroc']
      lines.append(
          f'| {names[q]} | {part} | {r["mean_in"]:.3f} | '
          f'{r["mean_out"]:.3f} | {a["value"]:.3f} [{a["low"]:.3f}, '
          f'{a["high"]:.3f}] |')
  lines += ['', f'Figure: `{summary["figure"]}` (mean per-pixel maps). '
            f'Total {summary["seconds"] / 60:.1f} min ({summary["machine"]}).',
            '']
  return '\n'.join(lines)


def figure_png(maps, dataset, ood):
  """PNG bytes: mean per-pixel bits/dim maps, rows = sets, cols = scores."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(2, 3, figsize=(9, 6))
  titles = {'likelihood': 'model', 'background': 'background',
            'likelihood_ratio': 'ratio (model - background)'}
  for col, q in enumerate(QUANTITIES):
    values = np.stack([maps['in'][q], maps['out'][q]])
    if q == 'likelihood_ratio':
      bound = np.abs(values).max()
      style = dict(cmap='RdBu_r', vmin=-bound, vmax=bound)
    else:
      style = dict(cmap='viridis', vmin=0., vmax=values.max())
    for row, (role, name) in enumerate((('in', dataset), ('out', ood))):
      ax = axes[row, col]
      image = ax.imshow(maps[role][q] * 1e3, **{
          k: v * 1e3 if k in ('vmin', 'vmax') else v
          for k, v in style.items()})
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(f'{titles[q]}\non {name}', fontsize=9)
      fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
  fig.suptitle('mean share of each pixel in the score (milli-bits/dim)',
               fontsize=10)
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
  plt.close(fig)
  return buf.getvalue()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model_dir', default=os.path.join(
      REPO, 'checkpoints', 'pixelcnn_fashion_mnist'))
  parser.add_argument('--background_dir', default=None,
                      help='default: <model_dir>_background')
  parser.add_argument('--num_images', type=int, default=2000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--output_dir', default=os.path.join(
      REPO, 'bench', 'results'))
  parser.add_argument('--output_name', default=None,
                      help='file stem of the report (default '
                      'likelihood_ratio_pixels_<dataset>)')
  args = parser.parse_args(argv)
  background_dir = args.background_dir or (
      os.path.normpath(args.model_dir) + '_background')
  for path in (args.model_dir, background_dir):
    if not os.path.isdir(path):
      parser.error(f'{path} does not exist')
  if args.num_images < 2:
    parser.error(f'--num_images must be at least 2; got {args.num_images}')

  from tfp_flows import data, models  # pylint: disable=g-import-not-at-top
  from tfp_flows.analysis import sampling  # pylint: disable=g-import-not-at-top
  from tfp_flows.experiments import shipping  # pylint: disable=g-import-not-at-top
  from tfp_flows.ood import likelihood_ratio  # pylint: disable=g-import-not-at-top
  from tfp_flows.utils import atomic  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  try:
    model = models.load(args.model_dir)
    background = models.load(background_dir)
    likelihood_ratio.check_background(model, background)
  except (ValueError, FileNotFoundError) as e:
    parser.error(str(e))
  if not hasattr(model, 'pixel_log_probs'):
    parser.error(f'{args.model_dir} is not a PixelCNN: only autoregressive '
                 'models have per-pixel terms')
  dataset = model.training_dataset
  ood = OTHER[dataset]
  sets = {}
  for role, name in (('in', dataset), ('out', ood)):
    images, labels = data.load(name, 'test')
    sets[role] = images[sampling.stratified_indices(labels, args.num_images,
                                                    args.seed)]
  table, maps = analyse(model, background, sets, seed=args.seed)
  stem = os.path.join(args.output_dir, args.output_name or
                      f'likelihood_ratio_pixels_{dataset}')
  summary = dict(
      dataset=dataset, ood_dataset=ood,
      model_dir=os.path.relpath(args.model_dir, REPO),
      background_dir=os.path.relpath(background_dir, REPO),
      num_images=args.num_images, seed=args.seed, table=table,
      figure=os.path.relpath(stem + '.png', REPO),
      seconds=time.perf_counter() - start,
      machine=shipping.machine_description(),
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  os.makedirs(args.output_dir, exist_ok=True)
  atomic.atomic_write_bytes(stem + '.png', figure_png(maps, dataset, ood))
  atomic.atomic_write_json(stem + '.json', summary)
  atomic.atomic_write_text(stem + '.md', render(summary))
  print(render(summary))
  print(f'Wrote {stem}.json, .md and .png')


if __name__ == '__main__':
  main()
