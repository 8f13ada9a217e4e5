"""The SIT study's numbers, histograms and figures as TensorBoard events.

Tags (step 0, one run directory per model under `tensorboard/`):
  <data set>/<SIT>/delta_bits_per_dim_mean, .../frac_likelihood_up,
  .../accuracy_after, .../bits_per_dim_after (histogram),
  <data set>/clean/bits_per_dim (scalar mean and histogram),
  ood/<OoD set>/<SIT>/auroc_in_transformed, ood/<OoD set>/auroc_clean,
  figures/<name> (the PNGs), report (the Markdown report as text).
"""

import os

import numpy as np
import tensorflow as tf

from tfp_flows.analysis import report

__all__ = ['write']


def _sit_tag(entry):
  """A SIT's tag; a second score of the same SIT (a PixelCNN's
  'conditioned') gets its own, so the two never share a tag."""
  if entry['evaluation'] == 'conditioned':
    return f'{entry["sit"]}.conditioned'
  return entry['sit']


def write(log_dir, summary, table, output_dir):
  """Writes the study to TensorBoard under `log_dir`.

  Args:
    log_dir: directory of the event files (one subdirectory per model).
    summary: the study summary (`summary.json` content).
    table: per-image table (for the histograms).
    output_dir: the study's output directory (figures are read from it).
  """
  models = list(summary['config']['models'])
  for model in models:
    writer = tf.summary.create_file_writer(os.path.join(log_dir, model))
    with writer.as_default():
      for c in summary['clean']:
        if c['model'] != model:
          continue
        tf.summary.scalar(f'{c["dataset"]}/clean/bits_per_dim_mean',
                          c['bpd']['mean'], step=0)
      for r in summary['results']:
        if r['model'] != model:
          continue
        prefix = f'{r["dataset"]}/{_sit_tag(r)}'
        tf.summary.scalar(f'{prefix}/delta_bits_per_dim_mean',
                          r['delta']['mean'], step=0)
        tf.summary.scalar(f'{prefix}/frac_likelihood_up',
                          r['frac_likelihood_up'], step=0)
        tf.summary.scalar(f'{prefix}/mean_abs_pixel_change',
                          r['pixel_change']['mean_abs'], step=0)
        clf = r['classifier'] or {}
        if 'accuracy_after' in clf:
          tf.summary.scalar(f'{prefix}/accuracy_after', clf['accuracy_after'],
                            step=0)
        rows = ((table['model'] == model) &
                (table['dataset'] == r['dataset']) &
                (table['sit'] == r['sit']) &
                (table['evaluation'] == r['evaluation']))
        after = table['bpd_after'][rows]
        tf.summary.histogram(f'{prefix}/bits_per_dim_after',
                             after[np.isfinite(after)], step=0)
        tf.summary.histogram(f'{r["dataset"]}/{r["evaluation"]}/'
                             'bits_per_dim_before', table['bpd_before'][rows],
                             step=0)
      for o in summary['ood']:
        if o['model'] != model:
          continue
        prefix = f'ood/{o["ood_dataset"]}/{_sit_tag(o)}'
        tf.summary.scalar(f'{prefix}/auroc_clean', o['auroc_clean'], step=0)
        tf.summary.scalar(f'{prefix}/auroc_in_transformed',
                          o['auroc_in_transformed'], step=0)
        tf.summary.scalar(f'{prefix}/auroc_both_transformed',
                          o['auroc_both_transformed'], step=0)
      for name, rel in (summary.get('figures') or {}).items():
        if model not in name:
          continue
        png = tf.io.read_file(os.path.join(output_dir, rel))
        image = tf.image.decode_png(png, channels=4)
        tf.summary.image(f'figures/{name}', image[None], step=0)
      tf.summary.text('report', report.render(summary), step=0)
    writer.flush()
    writer.close()
