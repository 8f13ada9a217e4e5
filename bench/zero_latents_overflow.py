"""Why decoding zeroed latents overflows: where, how often, and what fixes it.

The paper's Algorithm 1 zeroes a Glow's first k latent factors and decodes.
For some images the decoded image is not finite. This script decodes every
image's zeroed latents once more, eagerly and instrumented, and records for
each image:

* whether the float32 decode is finite (the study's failure rate);
* the first coupling (in generative order) whose output is not finite
  while its input was ('' when that happens outside a coupling);
* the smallest affine-coupling scale `sigmoid(raw + 2)` met on the way
  (finite inputs only), i.e. the largest factor `1 / sigmoid(raw + 2)` the
  generative direction multiplies by, per image (log10), and that factor at
  the coupling where the image first overflowed;
* whether the same decode in float64 (same weights) is finite, and how large
  its largest pixel is (is float32 the problem, or the flow?).

  .venv/bin/python bench/zero_latents_overflow.py --model_dir=runs/X
      [--model_dir=runs/Y ...] [--num_images=10000] [--k=1,2]
      [--output=bench/results/zero_latents_overflow.json]

Prints a table and writes the JSON (atomically). Images are the first
`num_images` of each test split (the model's own and its real OoD set).
"""

import argparse
import collections
import json
import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from tfp_flows import data  # pylint: disable=g-import-not-at-top
from tfp_flows import models  # pylint: disable=g-import-not-at-top
from tfp_flows.bijectors import coupling  # pylint: disable=g-import-not-at-top
from tfp_flows.utils import atomic  # pylint: disable=g-import-not-at-top


class _Recorder:
  """Per-image records of every coupling's generative pass, in call order."""

  def __init__(self):
    # (bijector name, input finite [N], output finite [N], min log scale [N]
    # or None for an additive coupling), in generative order.
    self.calls = []

  def __enter__(self):
    original = coupling.ChannelCoupling._augmented_forward  # pylint: disable=protected-access
    recorder = self

    def recording(bijector, x):
      out = original(bijector, x)
      y = out[0]
      axes = list(range(1, y.shape.rank))
      finite = tf.reduce_all(tf.math.is_finite(y), axis=axes).numpy()
      finite_in = tf.reduce_all(tf.math.is_finite(x), axis=axes).numpy()
      log_scale = bijector._shift_and_log_scale(  # pylint: disable=protected-access
          tf.split(x, [bijector.num_channels // 2,
                       bijector.num_transformed], axis=-1)[0])[1]
      smallest = (None if log_scale is None else tf.reduce_min(
          log_scale, axis=axes).numpy())
      recorder.calls.append((bijector.name, finite_in, finite, smallest))
      return out
    self._original = original
    coupling.ChannelCoupling._augmented_forward = recording  # pylint: disable=protected-access
    return self

  def __exit__(self, *exc):
    coupling.ChannelCoupling._augmented_forward = self._original  # pylint: disable=protected-access


def _float64_twin(model):
  """The same Glow in float64, weights copied (for the precision check)."""
  config = dict(model.config)
  twin = models.Glow(dtype=tf.float64, **config)
  pairs = list(zip(twin.variables, model.variables))
  if len(pairs) != len(model.variables) or any(
      a.shape != b.shape for a, b in pairs):
    raise RuntimeError('float64 twin does not match the model variables')
  for a, b in pairs:
    a.assign(tf.cast(b, a.dtype))
  return twin


def _decode_instrumented(model, latents):
  """Eager generative pass: pixel units, and the recorder's calls."""
  with _Recorder() as recorder:
    z = model.merge_latents(latents)
    pixels = model._crop(model.bijector.forward(z)) * 256.  # pylint: disable=protected-access
  return pixels.numpy(), recorder.calls


def analyse(model, images, k, batch_size=250):
  """Decodes `images`' zeroed latents; returns a dict of per-image findings."""
  twin = _float64_twin(model)
  n = len(images)
  finite32 = np.zeros(n, bool)
  finite64 = np.zeros(n, bool)
  max_abs64 = np.full(n, np.nan)
  min_log_scale = np.full(n, np.inf)
  # The smallest log scale of the coupling whose output first overflowed
  # (its input still finite): the cause, not a consequence.
  log_scale_at_overflow = np.full(n, np.nan)
  first_bad = np.full(n, '', object)
  for start in range(0, n, batch_size):
    batch = images[start:start + batch_size]
    stop = start + len(batch)
    latents = [np.asarray(z) for z in model.encode(batch, dequantize=False)]
    zeroed = [np.zeros_like(z) if level < k else z
              for level, z in enumerate(latents)]
    pixels, calls = _decode_instrumented(model, zeroed)
    finite32[start:stop] = np.isfinite(pixels).reshape(len(batch), -1).all(1)
    for name, finite_in, finite, smallest in calls:
      if smallest is not None:
        current = min_log_scale[start:stop]
        min_log_scale[start:stop] = np.where(
            finite_in, np.minimum(current, smallest), current)
      fresh = finite_in & (~finite) & (first_bad[start:stop] == '')
      first_bad[start:stop][fresh] = name
      if smallest is not None:
        log_scale_at_overflow[start:stop][fresh] = smallest[fresh]
    pixels64, _ = _decode_instrumented(
        twin, [tf.cast(z, tf.float64) for z in zeroed])
    finite64[start:stop] = np.isfinite(pixels64).reshape(len(batch), -1).all(1)
    with np.errstate(invalid='ignore'):
      max_abs64[start:stop] = np.abs(pixels64).reshape(len(batch), -1).max(1)
  # log10 of the largest generative factor 1 / sigmoid(raw + 2).
  log10_factor = -min_log_scale / math.log(10.)
  fail = ~finite32
  where = collections.Counter(first_bad[fail])
  result = dict(
      num_images=n, k=k, failed=int(fail.sum()),
      failure_rate=float(fail.mean()),
      first_non_finite_bijector=dict(where.most_common()),
      float64_finite_among_failed=int(finite64[fail].sum()),
      float64_max_abs_pixel_among_failed=(
          float(np.nanmedian(max_abs64[fail & finite64]))
          if (fail & finite64).any() else None),
      log10_largest_generative_factor=dict(
          failed_median=(float(np.median(log10_factor[fail]))
                         if fail.any() else None),
          at_first_overflow_median=(
              float(np.nanmedian(-log_scale_at_overflow[fail] /
                                 math.log(10.)))
              if np.isfinite(log_scale_at_overflow[fail]).any() else None),
          ok_median=(float(np.median(log10_factor[~fail]))
                     if (~fail).any() else None),
          ok_max=(float(np.max(log10_factor[~fail]))
                  if (~fail).any() else None)),
      decoded_ok_outside_pixel_range=float(np.mean(
          (max_abs64[~fail] > 512.) if (~fail).any() else 0.)))
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model_dir', action='append', required=True)
  parser.add_argument('--num_images', type=int, default=10000)
  parser.add_argument('--k', default=None,
                      help='comma-separated k (default: every k < L)')
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'zero_latents_overflow.json'))
  args = parser.parse_args()
  if args.num_images <= 0:
    parser.error('--num_images must be positive')
  results = []
  for model_dir in args.model_dir:
    model = models.load(model_dir)
    if not isinstance(model, models.Glow):
      parser.error(f'{model_dir} is not a Glow')
    ks = (range(1, model.num_levels) if args.k is None else
          [int(k) for k in args.k.split(',')])
    own = model.training_dataset
    for dataset in (own, data.ood_dataset_for(own)):
      images, _ = data.load(dataset, 'test', num_examples=args.num_images)
      for k in ks:
        tick = time.perf_counter()
        entry = dict(model=os.path.basename(os.path.normpath(model_dir)),
                     dataset=dataset, role='in' if dataset == own else 'ood',
                     **analyse(model, np.asarray(images), k))
        entry['seconds'] = round(time.perf_counter() - tick, 1)
        results.append(entry)
        print(json.dumps(entry), flush=True)
  atomic.atomic_write_json(args.output, dict(results=results))
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
