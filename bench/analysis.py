"""Wall time of a full `bin/analyze_sits` run on a trained model (a benchmark).

Runs `bin/analyze_sits` in a fresh output directory (so nothing comes from
the cache) on one model: its own test split and its real OoD set, all
`--num_images` images of each (default 10,000 + 10,000), every default SIT,
with the classifiers if given. Reports end-to-end wall time (process start
to exit, including TensorFlow start-up and model loading), images scored
per second end to end, and the breakdown the analysis measures itself:
model evaluation, SIT transforms, classifiers and pixel statistics,
summary statistics, figures, TensorBoard. `overhead_ratio` = end-to-end
wall time / model-evaluation time inside the analysis (1.0 would mean
nothing but the model costs time).

Issue 5's target is measured against *bare* model evaluation: before and
after the analysis, a separate process loads the model and times
`model.log_prob` (and `model.log_density` for the continuous SITs) alone on
in-memory test images at the analysis batch size, after a warm-up call; the
baseline rate is the harmonic mean of the two (the mean time), since rates
of separate processes differ by up to ~10% on a 2-vCPU VM.
`bare_model_seconds` = the analysis's discrete scorings / bare discrete
img/s + its continuous scorings / bare continuous img/s, and
`ratio_to_bare_eval` = end-to-end wall time / `bare_model_seconds`
(target: <= 1.2). Everything else (ZeroLatents' decode pass, data,
classifiers, statistics, figures, start-up) counts as overhead there;
`ratio_to_bare_eval_with_flow_passes` also counts the decode, a pass
through the flow, as evaluation.

  .venv/bin/python bench/analysis.py --model_dir=runs/glow_fashion_mnist
      [--classifier_dir=runs/classifiers/fashion_mnist ...]
      [--num_images=10000] [--keep_output=DIR]

Writes (merging by model name) bench/results/analysis.json and prints a
line per model.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


_BARE_EVAL_CHILD = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
from tfp_flows import data, models
model_dir, dataset, num, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = models.load(model_dir)
images, _ = data.load(dataset, 'test', num_examples=num)
continuous = ((images.astype(np.float32) + 0.5) / 256)
out = {}
# First call of each compiled function: trace, graph optimisation and one
# batch. The analysis pays it once per function; the rates below exclude it.
first = out['first_call_seconds'] = {}
for kind, fn, x in (('discrete', lambda b: model.log_prob(b, seed=0), images),
                    ('continuous', model.log_density, continuous)):
  tick = time.perf_counter()
  np.asarray(fn(x[:batch]))  # trace and warm up
  first[kind] = time.perf_counter() - tick
  tick = time.perf_counter()
  for start in range(0, num, batch):
    np.asarray(fn(x[start:start + batch]))
  out[kind + '_img_s'] = num / (time.perf_counter() - tick)
if hasattr(model, 'encode'):  # Glow: ZeroLatents' encode and decode passes
  encode = lambda b: [np.asarray(z) for z in model.encode(b, dequantize=False)]
  decode = lambda b: np.asarray(model.decode(encode(b)))
  for kind, fn in (('encode', encode), ('decode', decode)):
    tick = time.perf_counter()
    fn(images[:batch])
    first[kind] = time.perf_counter() - tick
    tick = time.perf_counter()
    for start in range(0, num, batch):
      fn(images[start:start + batch])
    out[kind + '_img_s'] = num / (time.perf_counter() - tick)
  # decode above also encodes: keep the decode pass alone.
  out['decode_img_s'] = 1. / (1. / out['decode_img_s'] - 1. / out['encode_img_s'])
print(json.dumps(out))
'''


def _bare_eval(model_dir, dataset, num_images, batch_size):
  """Bare evaluation rates (img/s) and first-call seconds, in a new process."""
  child = subprocess.run(
      [sys.executable, '-c', _BARE_EVAL_CHILD, model_dir, dataset,
       str(num_images), str(batch_size)],
      capture_output=True, text=True, check=True, cwd=REPO,
      env=dict(os.environ, PYTHONPATH=REPO))
  return json.loads(child.stdout.strip().splitlines()[-1])


def _scorings_per_image(config):
  """(discrete, continuous) model scorings per image per data set.

  One analysed model: its clean discrete scoring plus one per discrete SIT,
  and a clean continuous scoring plus one per continuous SIT it can take.
  """
  skipped = set(config.get('skipped_sits_for_some_models', ()))
  kinds = [s['kind'] for s in config['sits'] if s['name'] not in skipped]
  continuous = kinds.count('continuous')
  return 1 + kinds.count('discrete'), continuous + (1 if continuous else 0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model_dir', required=True)
  parser.add_argument('--classifier_dir', action='append', default=[])
  parser.add_argument('--num_images', type=int, default=10000)
  # 2,560 images (10 batches, ~10 s per pass) gave bare rates 15% apart
  # for two Glows of identical architecture (254 vs 291 img/s): too short.
  parser.add_argument('--bare_eval_images', type=int, default=9984,
                      help='test images timed per pass in the bare-evaluation '
                           'baseline (default 9984: 39 batches of 256)')
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--keep_output', default=None,
                      help='keep the analysis output here (default: discard)')
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'analysis.json'))
  args = parser.parse_args()
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top

  name = os.path.basename(os.path.normpath(args.model_dir))
  out_dir = args.keep_output or tempfile.mkdtemp(prefix='bench_analysis_')
  if os.path.exists(os.path.join(out_dir, 'cache')):
    shutil.rmtree(os.path.join(out_dir, 'cache'))
  with open(os.path.join(args.model_dir, 'operative_config.gin')) as f:
    config = f.read()
  training = 'mnist' if "train.dataset = 'mnist'" in config else (
      'fashion_mnist')
  ood = 'fashion_mnist' if training == 'mnist' else 'mnist'
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'analyze_sits'),
         f'--model_dir={args.model_dir}', f'--output_dir={out_dir}',
         f'--num_images={args.num_images}',
         f'--gin_param=analyze_sits.batch_size = {args.batch_size}',
         f"--gin_param=analyze_sits.datasets = ['{ood}']"]
  cmd += [f'--classifier_dir={d}' for d in args.classifier_dir]
  bare_before = _bare_eval(args.model_dir, training, args.bare_eval_images,
                           args.batch_size)
  tick = time.perf_counter()
  subprocess.run(cmd, check=True)
  wall = time.perf_counter() - tick
  with open(os.path.join(out_dir, 'summary.json')) as f:
    summary = json.load(f)
  timing = summary['timing']
  bare_after = _bare_eval(args.model_dir, training, args.bare_eval_images,
                          args.batch_size)
  # Rates of separate processes differ by up to ~10% on this VM: the
  # baseline takes the mean time of the runs before and after the analysis.
  bare = {k: 2. / (1. / bare_before[k] + 1. / bare_after[k])
          for k in bare_after if k.endswith('_img_s')}
  num_discrete, num_continuous = _scorings_per_image(summary['config'])
  # Images analysed, summed over data sets (a data set may be smaller).
  images_total = timing['images_scored'] / (num_discrete + num_continuous)
  bare_seconds = images_total * (num_discrete / bare['discrete_img_s'] +
                                num_continuous / bare['continuous_img_s'])
  # With the flow pass ZeroLatents needs counted as evaluation: one decode
  # per image, data set and k. It encodes nothing: the latents come from the
  # clean continuous scoring, and its continuous and quantised outputs share
  # the decode (tfp_flows.sits.zero_latents).
  names = [s['name'] for s in summary['config']['sits']]
  # e.g. ZeroLatents on a PixelCNN: configured, but skipped for this model.
  skipped = set(summary['config'].get('skipped_sits_for_some_models', ()))
  applied = [n for n in names if n not in skipped]
  zeroed_ks = {c['k'] for c in summary['config']['sits']
               if c.get('type') == 'ZeroLatents' and c['name'] not in skipped}
  flow_seconds = 0.
  if zeroed_ks:
    flow_seconds = images_total * len(zeroed_ks) / bare['decode_img_s']
  result = dict(
      model_dir=args.model_dir, datasets=[training, ood],
      num_images_per_dataset=args.num_images,
      sits=applied,
      sits_not_applicable=[n for n in names if n in skipped],
      images_scored=timing['images_scored'], wall_seconds=wall,
      images_per_second=timing['images_scored'] / wall,
      overhead_ratio=wall / timing['model_seconds'], timing=timing,
      bare_eval=dict(bare, images=args.bare_eval_images,
                     batch_size=args.batch_size, before=bare_before,
                     after=bare_after,
                     discrete_scorings_per_image=num_discrete,
                     continuous_scorings_per_image=num_continuous),
      bare_model_seconds=bare_seconds, ratio_to_bare_eval=wall / bare_seconds,
      bare_flow_pass_seconds=flow_seconds,
      ratio_to_bare_eval_with_flow_passes=(
          wall / (bare_seconds + flow_seconds) if flow_seconds else None),
      cpus=os.cpu_count(),
      timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  results = {}
  if os.path.exists(args.output):
    with open(args.output) as f:
      results = json.load(f)
  results[name] = result
  atomic_write_json(args.output, results)
  if args.keep_output is None:
    shutil.rmtree(out_dir, ignore_errors=True)
  print(f'{name}: {result["images_scored"]:,} images scored in {wall:.0f} s '
        f'({result["images_per_second"]:.1f} img/s end to end); model '
        f'evaluation {timing["model_seconds"]:.0f} s, overhead ratio '
        f'{result["overhead_ratio"]:.2f}; bare evaluation of the same '
        f'scorings {bare_seconds:.0f} s ({bare["discrete_img_s"]:.0f} / '
        f'{bare["continuous_img_s"]:.0f} img/s discrete / continuous), '
        f'ratio to bare {result["ratio_to_bare_eval"]:.2f}'
        + ('' if not flow_seconds else
           f' ({result["ratio_to_bare_eval_with_flow_passes"]:.2f} counting '
           'ZeroLatents\' decode as evaluation)'))


if __name__ == '__main__':
  main()
