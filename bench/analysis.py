"""Wall time of a full `bin/analyze_sits` run on a trained model (a benchmark).

Runs `bin/analyze_sits` in a fresh output directory (so nothing comes from
the cache) on one model: its own test split and its real OoD set, all
`--num_images` images of each (default 10,000 + 10,000), every default SIT,
with the classifiers if given. Reports end-to-end wall time (process start
to exit, including TensorFlow start-up and model loading), images scored
per second end to end, and the breakdown the analysis measures itself:
model evaluation, SIT transforms, classifiers and pixel statistics,
summary statistics, figures, TensorBoard. `overhead_ratio` = end-to-end
wall time / model-evaluation time (1.0 would mean nothing but the model
costs time).

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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model_dir', required=True)
  parser.add_argument('--classifier_dir', action='append', default=[])
  parser.add_argument('--num_images', type=int, default=10000)
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
         f"--gin_param=analyze_sits.datasets = ['{ood}']"]
  cmd += [f'--classifier_dir={d}' for d in args.classifier_dir]
  tick = time.perf_counter()
  subprocess.run(cmd, check=True)
  wall = time.perf_counter() - tick
  with open(os.path.join(out_dir, 'summary.json')) as f:
    summary = json.load(f)
  timing = summary['timing']
  result = dict(
      model_dir=args.model_dir, datasets=[training, ood],
      num_images_per_dataset=args.num_images,
      sits=[s['name'] for s in summary['config']['sits']],
      images_scored=timing['images_scored'], wall_seconds=wall,
      images_per_second=timing['images_scored'] / wall,
      overhead_ratio=wall / timing['model_seconds'], timing=timing,
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
        f'{result["overhead_ratio"]:.2f}')


if __name__ == '__main__':
  main()
