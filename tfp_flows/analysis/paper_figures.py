"""The reference paper's figures, redrawn from the study's per-image table.

Wang & Yiu (2019) show class means and single examples; these figures show
the same comparisons over the whole sample, with 95% bootstrap intervals of
each class mean (bits/dim per original pixel, lower = more likely):

  paper_fig1_translation.png   per-class mean bits/dim of clean images and
                               of 1- and 2-pixel left shifts, one row per
                               model, one panel per labelled data set (the
                               paper's Figs. 1 and 2)
  paper_fig4_zero_latents.png  the same for clean images and the first 1 and
                               2 latent factors zeroed, Glows only (Fig. 4);
                               "clean" is the density at the bin centre
                               that ZeroLatents encodes
  paper_fig5_<model>.png       originals and their zero <= 1, zero <= 2
                               decodings with bits/dim under each (Fig. 5)

A figure is written only when the study has its SITs (and, for Figs. 4 and
5, a Glow deep enough for them).
"""

import os

import numpy as np

from tfp_flows import sits as sits_lib
from tfp_flows.analysis import statistics

__all__ = ['TRANSLATION_SERIES', 'ZERO_LATENT_SERIES', 'class_means',
           'write_paper_figures']

# (legend label, SIT name) per bar series; "clean" is the SIT rows' before.
TRANSLATION_SERIES = (('shift 1 px left', 'translate_dx-1_dy0_zeros'),
                      ('shift 2 px left', 'translate_dx-2_dy0_zeros'))
ZERO_LATENT_SERIES = (('zero <= 1', 'zero_latents_k1_continuous'),
                      ('zero <= 2', 'zero_latents_k2_continuous'))

_GRID_IMAGES = 6


def class_means(bpd, labels, num_resamples=1000, seed=0):
  """Per-class mean bits/dim with a 95% bootstrap interval.

  Args:
    bpd: float array `[N]` (NaN entries, failed images, are left out).
    labels: int array `[N]`.
    num_resamples: bootstrap resamples per class.
    seed: bootstrap seed.

  Returns:
    `(classes, means, lows, highs)`: int array of the classes with at least
    one finite value, and float arrays of their means and interval ends.
  """
  bpd, labels = np.asarray(bpd, np.float64), np.asarray(labels)
  classes, means, lows, highs = [], [], [], []
  for label in np.unique(labels):
    values = bpd[(labels == label) & np.isfinite(bpd)]
    if not values.size:
      continue
    low, high = statistics.bootstrap_mean_ci(values,
                                             num_resamples=num_resamples,
                                             seed=seed)
    classes.append(int(label))
    means.append(values.mean())
    lows.append(low)
    highs.append(high)
  return (np.asarray(classes, np.int64), np.asarray(means),
          np.asarray(lows), np.asarray(highs))


def _rows(table, model, dataset, sit):
  """Rows of one model x data set x SIT (its first evaluation: the density,
  not a PixelCNN's conditioned score)."""
  return np.flatnonzero((table['model'] == model) &
                        (table['dataset'] == dataset) &
                        (table['sit'] == sit) &
                        (table['evaluation'] != 'conditioned'))


def _panels(table, models, series):
  """`[(model, dataset, [(label, bpd, labels), ...])]` for every model x
  labelled data set that has at least one of `series`' SITs."""
  panels = []
  for model in models:
    datasets = dict.fromkeys(
        table['dataset'][(table['model'] == model) & (table['label'] >= 0)])
    for dataset in datasets:
      bars = []
      for label, sit in series:
        rows = _rows(table, model, dataset, sit)
        if not rows.size:
          continue
        if not bars:
          bars.append(('clean', table['bpd_before'][rows],
                       table['label'][rows]))
        bars.append((label, table['bpd_after'][rows], table['label'][rows]))
      if bars:
        panels.append((model, dataset, bars))
  return panels


def _per_class_figure(plt, panels, title, seed):
  models = list(dict.fromkeys(p[0] for p in panels))
  cols = max(sum(p[0] == m for p in panels) for m in models)
  fig, axes = plt.subplots(len(models), cols,
                           figsize=(5.2 * cols, 2.9 * len(models)),
                           squeeze=False)
  for ax in axes.ravel():
    ax.set_visible(False)
  used = {m: 0 for m in models}
  for model, dataset, bars in panels:
    ax = axes[models.index(model)][used[model]]
    used[model] += 1
    ax.set_visible(True)
    width = 0.8 / len(bars)
    lowest, highest = np.inf, -np.inf
    for j, (label, bpd, labels) in enumerate(bars):
      classes, means, lows, highs = class_means(bpd, labels, seed=seed)
      ax.bar(classes + (j - (len(bars) - 1) / 2) * width, means, width,
             yerr=[means - lows, highs - means], capsize=1.5, label=label,
             color=f'C{j}', error_kw=dict(lw=0.6))
      if means.size:
        lowest, highest = min(lowest, lows.min()), max(highest, highs.max())
    if np.isfinite(lowest):
      pad = 0.1 * (highest - lowest) + 0.02
      ax.set_ylim(lowest - pad, highest + pad)
    ax.set_xticks(range(10))
    ax.set_xlabel('class')
    ax.set_ylabel('mean bits/dim (95% CI)')
    ax.set_title(f'{model} on {dataset}', fontsize=9)
    ax.legend(fontsize=6, ncol=len(bars))
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


def _zero_grid(plt, model, dataset, images, columns):
  """`columns`: `[(title, continuous images [k, H, W, C], bits/dim [k])]`."""
  rows = len(images)
  fig, axes = plt.subplots(rows, len(columns),
                           figsize=(1.5 * len(columns), 1.55 * rows),
                           squeeze=False)
  for j, (title, y, bpd) in enumerate(columns):
    grey = np.clip(sits_lib.from_continuous(y), 0, 255)
    for i in range(rows):
      ax = axes[i][j]
      ax.imshow(grey[i, ..., 0], cmap='gray', vmin=0, vmax=255)
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_xlabel('failed' if not np.isfinite(bpd[i]) else
                    f'{bpd[i]:.3f}', fontsize=7)
      if i == 0:
        ax.set_title(title, fontsize=7)
  fig.suptitle(f'{model} on {dataset}: bits/dim', fontsize=8)
  return fig


def write_paper_figures(plt, save, table, images_of, models, seed,
                        batch_size):
  """Draws the paper's figures that the study's SITs allow.

  Args:
    plt: `matplotlib.pyplot` (headless backend chosen by the caller).
    save: callable `(figure, filename)` that writes and records a figure.
    table: the per-image table (`per_image.COLUMNS`).
    images_of: `{data set: (images, labels, indices)}` of the sample.
    models: the `StudyModel`s.
    seed, batch_size: as for the study, so Fig. 5 shows exactly the
      transforms that were scored.
  """
  names = [m.name for m in models]
  panels = _panels(table, names, TRANSLATION_SERIES)
  if panels:
    save(_per_class_figure(
        plt, panels, 'Per-class bits/dim under left shifts (paper Figs. 1, 2)',
        seed), 'paper_fig1_translation.png')
  panels = _panels(table, names, ZERO_LATENT_SERIES)
  if panels:
    save(_per_class_figure(
        plt, panels, 'Per-class bits/dim with the first k latent factors '
        'zeroed (paper Fig. 4)', seed), 'paper_fig4_zero_latents.png')
  for m in models:
    zero_sits = [sits_lib.get(sit) for _, sit in ZERO_LATENT_SERIES
                 if sits_lib.get(sit).applies_to(m.model)]
    dataset = m.training_dataset
    first = [_rows(table, m.name, dataset, s.name) for s in zero_sits]
    if not zero_sits or not all(r.size for r in first):
      continue
    images, _, idx = images_of[dataset]
    k = min(_GRID_IMAGES, len(images))
    columns = [('original (bin centre)',
                sits_lib.to_continuous(images[:k]),
                table['bpd_before'][first[0][:k]])]
    for (title, _), sit, rows in zip(ZERO_LATENT_SERIES, zero_sits, first):
      out, _ = sit.transform(images[:k], seed=seed, indices=idx[:k],
                             model=m.model, batch_size=batch_size)
      columns.append((title, out, table['bpd_after'][rows[:k]]))
    save(_zero_grid(plt, m.name, dataset, images[:k], columns),
         f'paper_fig5_{m.name}.png')
