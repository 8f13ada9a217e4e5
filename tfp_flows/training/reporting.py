"""What a training run reports while it runs: evaluations, samples, scalars.

Console lines through `log`, TensorBoard events through `writer` (chief
only; other workers of a multi-worker run log nothing to TensorBoard).
"""

import contextlib

import tensorflow as tf

from tfp_flows.models import evaluation
from tfp_flows.utils import display
from tfp_flows.utils import ranking

__all__ = ['RunReporter']


class RunReporter:
  """Evaluates and summarises one training run.

  Args:
    model: the `ImageDensityModel` being trained.
    ema: its `models.ema.ExponentialMovingAverage`, or None; evaluations and
      samples use the averaged weights when given.
    writer: a `tf.summary` writer.
    chief: Python `bool`, whether this worker writes summaries.
    log: callable for console lines.
    eval_sets: `{name: uint8 images [N, H, W, C]}`, the run's own test set
      first, then its OoD set.
    eval_batch_size: Python `int`.
    seed: Python `int`, dequantisation and sampling seed.
    num_samples: Python `int`, images per sample grid.
  """

  def __init__(self, model, ema, writer, chief, log, eval_sets,
               eval_batch_size, seed, num_samples):
    self.model, self.ema, self.writer = model, ema, writer
    self.chief, self.log = chief, log
    self.eval_sets = eval_sets
    self.own, self.ood = list(eval_sets)[0], list(eval_sets)[-1]
    self.eval_batch_size, self.seed = eval_batch_size, seed
    self.num_samples = num_samples

  def _averaged(self):
    return (self.ema.swapped_in() if self.ema is not None
            else contextlib.nullcontext())

  def operative_config(self, text, step):
    """Writes the run's operative config as TensorBoard text."""
    if self.chief:
      with self.writer.as_default():
        tf.summary.text('operative_config',
                        '    ' + text.replace('\n', '\n    '), step=step)

  def evaluate(self, step):
    """Bits/dim of every evaluation set and the OoD AUROC, logged.

    Returns:
      `dict`: mean bits/dim (per original pixel) per set name, and
      `ood_auroc`.
    """
    with self._averaged():
      results = {name: evaluation.evaluate_bits_per_dim(
          self.model, images, self.eval_batch_size, seed=self.seed)
                 for name, images in self.eval_sets.items()}
    auc = ranking.auroc(results[self.own], results[self.ood])
    summary = {name: float(v.mean()) for name, v in results.items()}
    summary['ood_auroc'] = auc
    # Both bits/dim definitions (`models.discrete`): they differ for padded
    # models.
    factor = self.model.per_model_pixel_factor
    per_model = ('' if factor == 1. else
                 f' ({factor * summary[self.own]:.4f} / '
                 f'{factor * summary[self.ood]:.4f} per model pixel)')
    self.log(f'  eval @ {step}: ' + ', '.join(
        f'{n} {v:.4f} bits/dim' for n, v in summary.items()
        if n != 'ood_auroc') + per_model + f', OoD AUROC {auc:.3f}')
    if self.chief:
      with self.writer.as_default():
        for name, bpd in results.items():
          tf.summary.scalar(f'eval/{name}/bits_per_dim', float(bpd.mean()),
                            step=step)
          tf.summary.scalar(f'eval/{name}/bits_per_model_pixel',
                            factor * float(bpd.mean()), step=step)
          tf.summary.histogram(f'eval/{name}/bits_per_dim_per_image', bpd,
                               step=step)
        tf.summary.scalar('eval/ood_auroc', auc, step=step)
    return summary

  def samples(self, step):
    """Sample grids (Glow: temperatures 0.7 and 1.0) to TensorBoard."""
    if not self.chief or not hasattr(self.model, 'sample'):
      return
    with self._averaged(), self.writer.as_default():
      temps = (0.7, 1.0) if hasattr(self.model, 'encode') else (None,)
      for t in temps:
        kwargs = {} if t is None else {'temperature': t}
        imgs = self.model.sample(self.num_samples,
                                 seed=self.seed * 100_003 + step,
                                 **kwargs).numpy()
        tag = 'samples' if t is None else f'samples/temperature_{t}'
        tf.summary.image(tag, display.image_grid(imgs), step=step)

  def training_scalars(self, step, loss, grad_norm, learning_rate,
                       images_per_second):
    """Loss (bits/dim), gradient norm, learning rate and throughput."""
    if not self.chief:
      return
    with self.writer.as_default():
      tf.summary.scalar('train/loss', loss, step=step)
      tf.summary.scalar('train/bits_per_dim', loss, step=step)
      tf.summary.scalar('train/grad_norm', grad_norm, step=step)
      tf.summary.scalar('train/learning_rate', learning_rate, step=step)
      if images_per_second == images_per_second:  # Not NaN.
        tf.summary.scalar('train/images_per_second', images_per_second,
                          step=step)

  def flush(self):
    self.writer.flush()
