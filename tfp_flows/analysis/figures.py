"""PNG figures of the SIT study (matplotlib, headless).

Per model:
  hist_<model>.png        clean bits/dim histograms, in- vs out-of-distribution
  delta_<model>.png       mean change of bits/dim (95% CI) vs how much the
                          SIT moved the pixels, one series per data set
  per_class_<model>.png   per-class mean clean bits/dim for each labelled set
                          (the paper's Figs. 1 and 4)
  grid_<model>_<set>.png  originals and their transforms, labelled with
                          bits/dim and the classifier's prediction

and the reference paper's figures across models (`paper_figures`).
"""

import io
import os
import textwrap

import numpy as np

from tfp_flows import sits as sits_lib
from tfp_flows.analysis import paper_figures
from tfp_flows.utils import atomic

__all__ = ['write_figures', 'write_ood_auroc_figure']

_GRID_IMAGES = 6


def _plt():
  # Deferred: choosing the Agg backend at import time would change the
  # backend of every program that merely imports tfp_flows.analysis.
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, path):
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
  _plt().close(fig)
  atomic.atomic_write_bytes(path, buf.getvalue())


def _histograms(plt, model, clean):
  fig, ax = plt.subplots(figsize=(6.4, 4))
  entries = [(d, e) for (m, d), e in clean.items() if m == model]
  all_bpd = np.concatenate([e['bpd'] for _, e in entries])
  lo, hi = np.percentile(all_bpd, [0.5, 99.5])
  bins = np.linspace(lo, hi, 60)
  for dataset, entry in entries:
    style = dict(lw=2.) if entry['role'] == 'in' else dict(lw=1.)
    ax.hist(entry['bpd'], bins=bins, histtype='step', density=True,
            label=f'{dataset} ({entry["role"]})', **style)
  ax.set_xlabel('bits/dim (clean test images)')
  ax.set_ylabel('density')
  ax.set_title(f'{model}: in- vs out-of-distribution')
  ax.legend(fontsize=7)
  return fig


def _delta_vs_magnitude(plt, model, results):
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for dataset in dict.fromkeys(r['dataset'] for r in results):
    rs = [r for r in results if r['dataset'] == dataset]
    x = np.array([r['pixel_change']['mean_abs'] for r in rs])
    y = np.array([r['delta']['mean'] for r in rs])
    err = np.array([[r['delta']['mean'] - r['delta']['ci95'][0],
                     r['delta']['ci95'][1] - r['delta']['mean']] for r in rs]).T
    ax.errorbar(x, y, yerr=err, fmt='o', capsize=3, ms=4, label=dataset)
    if dataset == rs[0]['dataset'] and rs[0]['role'] == 'in':
      for xi, yi, r in zip(x, y, rs):
        ax.annotate(r['sit'], (xi, yi), fontsize=5, alpha=.8,
                    xytext=(3, 2), textcoords='offset points')
  ax.axhline(0., color='k', lw=.5)
  ax.set_xscale('symlog', linthresh=0.1)
  # Pixel changes are >= 0; symlog would otherwise mirror empty negative decades.
  ax.set_xlim(left=0.)
  ax.set_xlabel('mean |pixel change| (grey levels)')
  ax.set_ylabel('mean change of bits/dim (95% CI)')
  ax.set_title(f'{model}: likelihood change vs SIT magnitude')
  ax.legend(fontsize=7)
  return fig


def _per_class(plt, model, clean):
  entries = [(d, e) for (m, d), e in clean.items()
             if m == model and (e['labels'] >= 0).any()]
  fig, axes = plt.subplots(1, max(1, len(entries)),
                           figsize=(4 * max(1, len(entries)), 3.5),
                           squeeze=False)
  for ax, (dataset, entry) in zip(axes[0], entries):
    classes = np.unique(entry['labels'])
    means = [entry['bpd'][entry['labels'] == c].mean() for c in classes]
    ax.bar([str(c) for c in classes], means,
           color='C0' if entry['role'] == 'in' else 'C1')
    ax.set_ylim(min(means) - 0.2, max(means) + 0.2)
    ax.set_title(f'{dataset} ({entry["role"]})', fontsize=9)
    ax.set_xlabel('class')
    ax.set_ylabel('mean bits/dim')
  fig.suptitle(f'{model}: per-class likelihood')
  return fig


def _grid(plt, model, dataset, images, transforms, classifier):
  """`images`: (uint8 originals, their bits/dim); `transforms`: list of
  (SIT name, kind, transformed images, their bits/dim)."""
  cols, rows = 1 + len(transforms), len(images[0])
  fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows),
                           squeeze=False)
  columns = [('original', 'discrete', images[0], images[1])] + transforms
  for j, (name, kind, imgs, bpd) in enumerate(columns):
    grey = imgs if kind == 'discrete' else np.clip(
        sits_lib.from_continuous(imgs), 0, 255)
    pred = classifier.predict(grey) if classifier is not None else None
    for i in range(len(grey)):
      ax = axes[i][j]
      ax.imshow(np.asarray(grey[i])[..., 0], cmap='gray', vmin=0, vmax=255)
      ax.set_xticks([])
      ax.set_yticks([])
      text = f'{bpd[i]:.2f}'
      if pred is not None:
        text += f' c{int(pred[i])}'
      ax.set_xlabel(text, fontsize=6)
      if i == 0:
        ax.set_title(textwrap.fill(name.replace('_', ' '), 16), fontsize=5)
  fig.suptitle(f'{model} on {dataset}: bits/dim and predicted class',
               fontsize=8)
  return fig


def write_figures(figure_dir, summary, table, clean, images_of, models, sits,
                  classifier_by_space, seed, batch_size):
  """Writes every figure; returns `{name: path relative to the output dir}`.

  Args:
    figure_dir: where the PNGs go.
    summary: the study summary (`summary.json` content).
    table: the per-image table (`per_image.COLUMNS`).
    clean: `{(model, data set): dict(bpd, labels, role)}` of clean images.
    images_of: `{data set: (images, labels, indices)}` of the sample.
    models: the `StudyModel`s; sits: the SITs; classifier_by_space:
      `{data set: classifier}`; seed, batch_size: as for the study, so the
      grid shows exactly the transforms that were scored.
  """
  plt = _plt()
  os.makedirs(figure_dir, exist_ok=True)
  written = {}

  def emit(fig, filename):
    _save(fig, os.path.join(figure_dir, filename))
    written[filename[:-4]] = os.path.join('figures', filename)

  for m in models:
    if not any(k[0] == m.name for k in clean):
      continue
    emit(_histograms(plt, m.name, clean), f'hist_{m.name}.png')
    results = [r for r in summary['results'] if r['model'] == m.name]
    if results:
      emit(_delta_vs_magnitude(plt, m.name, results), f'delta_{m.name}.png')
    emit(_per_class(plt, m.name, clean), f'per_class_{m.name}.png')
    # Image grid on the in-distribution set: re-applies each SIT to the first
    # few images of the sample (cheap) and scores them for the labels.
    dataset = m.training_dataset
    images, labels, idx = images_of[dataset]
    del labels
    k = min(_GRID_IMAGES, len(images))
    sub, sub_idx = images[:k], idx[:k]
    bpd_clean = clean[(m.name, dataset)]['bpd'][:k]
    transforms = []
    for sit in sits_lib.sits_for_model(sits, m.model):
      # The first score of each SIT (a PixelCNN's density, not its
      # conditioned score) labels the grid.
      rows = np.flatnonzero((table['model'] == m.name) &
                            (table['dataset'] == dataset) &
                            (table['sit'] == sit.name) &
                            (table['evaluation'] != 'conditioned'))[:k]
      if not rows.size:
        continue
      out, _ = sit.transform(sub, seed=seed, indices=sub_idx, model=m.model,
                             batch_size=batch_size)
      transforms.append((sit.name, sit.kind, out, table['bpd_after'][rows]))
    classifier = classifier_by_space.get(dataset)
    emit(_grid(plt, m.name, dataset, (sub, bpd_clean), transforms,
               classifier), f'grid_{m.name}_{dataset}.png')
  paper_figures.write_paper_figures(plt, emit, table, images_of, models,
                                    seed, batch_size)
  return written


def write_ood_auroc_figure(results, path):
  """AUROC of each OoD score under each SIT, one panel per model.

  Args:
    results: the `dict` of `tfp_flows.experiments.ood_study.run`: per model
      `detection[score][set]['auroc']['value']` and
      `robustness[sit][score]['auroc_in_moved' | 'auroc_both_moved']`.
    path: PNG file written (atomically).
  """
  plt = _plt()
  runs = results['models']
  fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.4),
                           squeeze=False, sharey=True)
  for ax, m in zip(axes[0], runs):
    sits = [s for s in results['settings']['sits'] if s in m['robustness']]
    x = np.arange(len(sits) + 1)
    for i, score in enumerate(m['scores']):
      clean = m['detection'][score][m['real_ood']]['auroc']['value']
      color = f'C{i % 10}'
      for key, style in (('auroc_in_moved', '-'), ('auroc_both_moved', ':')):
        # NaN (a gap in the line) where the SIT transformed no image.
        values = [clean] + [
            np.nan if m['robustness'][s][score][key] is None
            else m['robustness'][s][score][key]['value'] for s in sits]
        ax.plot(x, values, style, marker='o', ms=3, color=color,
                label=score if key == 'auroc_in_moved' else None)
    ax.axhline(0.5, color='grey', lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(['clean'] + sits, rotation=60, ha='right', fontsize=7)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f'{os.path.basename(m["model_dir"].rstrip("/"))} vs '
                 f'{m["real_ood"]}', fontsize=9)
  axes[0][0].set_ylabel('AUROC (solid: SIT on in-distribution; dotted: on '
                        'both)', fontsize=8)
  axes[0][-1].legend(fontsize=6, loc='center left', bbox_to_anchor=(1, 0.5))
  _save(fig, path)
