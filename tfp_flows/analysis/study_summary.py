"""Statistics of the SIT study, computed from the per-image table alone.

Everything in `summary.json` is a function of `per_image.csv` (plus the
bootstrap seed), so a reader can recompute any number: `summarize_table`
is that function.

Conventions:
* `delta` = bits/dim after - before, per image (positive: the SIT made the
  image *less* likely). `frac_likelihood_up` = fraction with delta < 0.
* OoD AUROC uses bits/dim as the score, in-distribution test images as
  negatives and OoD images as positives: 0.5 is chance, below 0.5 the OoD
  set looks more likely than the model's own test set (the paper's finding).
  For each SIT three AUROCs: both clean (`clean`), the in-distribution
  images transformed and the OoD ones clean (`in_transformed`: does a
  1-pixel shift push FashionMNIST below MNIST?), and both transformed
  (`both_transformed`).
* Images a SIT failed on (NaN `bpd_after`, e.g. a flow's decoder overflowed
  on zeroed latents) are left out of every statistic of that SIT and
  counted in `num_failed`; in the OoD AUROCs a SIT's failed images are
  left out of both of its sets.
* Spearman correlations per (model, data set, SIT) between per-image
  bits/dim and classifier confidence (top-class probability) before the SIT,
  and between the change of bits/dim and the change of confidence.
"""

import numpy as np

from tfp_flows.analysis import statistics

__all__ = ['summarize_table']


def _mean_median(values):
  return dict(mean=float(np.mean(values)), median=float(np.median(values)))


def _finite_or_none(value):
  return float(value) if np.isfinite(value) else None


def _classifier_block(rows, table):
  pred_before = table['classifier_pred_before'][rows]
  if (pred_before < 0).all():
    return None
  labels = table['label'][rows]
  pred_after = table['classifier_pred_after'][rows]
  labelled = labels >= 0
  conf_before = table['confidence_before'][rows]
  conf_after = table['confidence_after'][rows]
  bpd_before = table['bpd_before'][rows]
  delta = table['bpd_after'][rows] - bpd_before
  block = dict(
      agreement=float(np.mean(pred_after == pred_before)),
      mean_confidence_before=float(np.mean(conf_before)),
      mean_confidence_after=float(np.mean(conf_after)),
      spearman_bpd_vs_confidence=_finite_or_none(
          statistics.spearman(bpd_before, conf_before)),
      spearman_delta_bpd_vs_delta_confidence=_finite_or_none(
          statistics.spearman(delta, conf_after - conf_before)))
  if labelled.any():
    block['accuracy_before'] = float(np.mean(
        pred_before[labelled] == labels[labelled]))
    block['accuracy_after'] = float(np.mean(
        pred_after[labelled] == labels[labelled]))
  return block


def _group_summary(rows, table, num_bootstrap, seed):
  before = table['bpd_before'][rows]
  after = table['bpd_after'][rows]
  delta = after - before
  low, high = statistics.bootstrap_mean_ci(delta, num_resamples=num_bootstrap,
                                           seed=seed)
  psnr = table['psnr'][rows]
  finite_psnr = psnr[np.isfinite(psnr)]
  labels = table['label'][rows]
  per_class = {}
  for label in np.unique(labels):
    sel = labels == label
    per_class[str(int(label))] = dict(
        count=int(sel.sum()), bpd_before=float(before[sel].mean()),
        bpd_after=float(after[sel].mean()), delta=float(delta[sel].mean()))
  first = rows[0]
  return dict(
      model=str(table['model'][first]), dataset=str(table['dataset'][first]),
      role=str(table['role'][first]), sit=str(table['sit'][first]),
      evaluation=str(table['evaluation'][first]), count=int(rows.size),
      bpd_before=_mean_median(before), bpd_after=_mean_median(after),
      delta=dict(mean=float(delta.mean()), ci95=[low, high],
                 median=float(np.median(delta))),
      frac_likelihood_up=float(np.mean(delta < 0)),
      pixel_change=dict(
          mean_abs=float(table['pixel_change'][rows].mean()),
          median_psnr=(float(np.median(finite_psnr)) if finite_psnr.size
                       else None),
          frac_unchanged=float(np.mean(~np.isfinite(psnr)))),
      clipped_fraction=float(table['clipped_fraction'][rows].mean()),
      classifier=_classifier_block(rows, table),
      per_class=per_class)


def _ood_blocks(table, groups):
  """AUROCs of each model's in-distribution set against each OoD set."""
  out = []
  by_key = {(g['model'], g['dataset'], g['sit'], g['evaluation']): rows
            for g, rows in groups}
  for (model, dataset, sit, evaluation), in_rows in by_key.items():
    if table['role'][in_rows[0]] != 'in':
      continue
    for (m2, ood, s2, e2), ood_rows in by_key.items():
      if m2 != model or s2 != sit or e2 != evaluation or ood == dataset:
        continue
      in_b, in_a = table['bpd_before'][in_rows], table['bpd_after'][in_rows]
      ood_b, ood_a = (table['bpd_before'][ood_rows],
                      table['bpd_after'][ood_rows])
      out.append(dict(
          model=model, in_dataset=dataset, ood_dataset=ood, sit=sit,
          evaluation=evaluation,
          auroc_clean=statistics.auroc(in_b, ood_b),
          auroc_in_transformed=statistics.auroc(in_a, ood_b),
          auroc_both_transformed=statistics.auroc(in_a, ood_a),
          mean_bpd_in_after=float(in_a.mean()),
          mean_bpd_ood_clean=float(ood_b.mean())))
  return out


def summarize_table(table, num_bootstrap=2000, seed=0):
  """Summary statistics of a per-image table (see the module docstring).

  Args:
    table: dict of columns (`tfp_flows.analysis.per_image.COLUMNS`).
    num_bootstrap: bootstrap resamples for the 95% interval of mean deltas.
    seed: bootstrap seed.

  Returns:
    dict with `results` (one entry per model x data set x SIT, in table
    order) and `ood` (AUROCs per model x OoD set x SIT).
  """
  keys = np.stack([table['model'].astype(str), table['dataset'].astype(str),
                   table['sit'].astype(str), table['evaluation'].astype(str)],
                  axis=1) if len(table['model']) else np.zeros((0, 4), str)
  groups = []
  seen = {}
  for i, key in enumerate(map(tuple, keys)):
    seen.setdefault(key, []).append(i)
  for key, rows in seen.items():
    rows = np.asarray(rows)
    groups.append((dict(model=key[0], dataset=key[1], sit=key[2],
                        evaluation=key[3]), rows))
  results, failed = [], []
  # One group per (model, data set, SIT, evaluation): a PixelCNN scores a
  # continuous SIT twice, by its density and by its noisy-conditioned score.
  valid_groups = []
  for key, rows in groups:
    ok = rows[np.isfinite(table['bpd_after'][rows])]
    if not ok.size:
      failed.append(dict(key, count=int(rows.size)))
      continue
    entry = _group_summary(ok, table, num_bootstrap, seed)
    entry['num_failed'] = int(rows.size - ok.size)
    results.append(entry)
    valid_groups.append((key, ok))
  return dict(results=results, ood=_ood_blocks(table, valid_groups),
              failed_groups=failed)
