"""Trains the research configs to their full schedule and measures the result.

For each config (default: every `gin_configs/*.gin` except `tiny_*`, the
study's main model first), runs `bin/train` into `RUNS/<config name>` and
then evaluates the final (EMA) model on the whole test split of its own data
set and of its OoD set. A run that was interrupted (session end, SIGKILL)
resumes from its last checkpoint when this script is started again; a run
that already reached its final step is only re-evaluated if its results are
missing.

  .venv/bin/python bench/train_research_models.py [--runs_dir runs]
      [--configs small_glow_fashion_mnist,small_glow_mnist] [--num_eval_images 10000]

Per config it records, in `bench/results/research_training.json` (written
atomically after every config): the final step, the wall-clock and CPU
seconds of each training segment (CPU = user + system time of the training
process, all threads; on 2 cores it is up to 2x the wall time), and test
bits/dim (mean with a 95% bootstrap interval) in- and out-of-distribution
with the likelihood OoD AUROC. The learning curves are in each run's
TensorBoard events.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# The study's main model first, so a partial run still yields it.
ORDER = ['small_glow_fashion_mnist', 'small_glow_mnist', 'pixelcnn_fashion_mnist',
         'small_glow_additive_fashion_mnist', 'pixelcnn_mnist']

_EVAL_CHILD = r'''
import json, os, sys
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from tfp_flows import analysis, data, models
from tfp_flows.models import evaluation
model_dir, num_images = sys.argv[1], int(sys.argv[2])
model = models.load(model_dir)
dataset = model.training_dataset
ood = data.ood_dataset_for(dataset)
out = dict(dataset=dataset, ood_dataset=ood)
bpd = {}
for name in (dataset, ood):
  images, _ = data.load(name, 'test', num_examples=num_images)
  bpd[name] = evaluation.evaluate_bits_per_dim(model, images, 256, seed=0)
  summary = analysis.summarize(bpd[name])
  out[name] = dict(num_images=len(images), **summary)
out['ood_auroc'] = analysis.auroc(bpd[dataset], bpd[ood])
print(json.dumps(out))
'''


def _child_cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _final_step(config):
  """`train.num_steps` of a gin config file (clears the global gin config)."""
  import gin  # pylint: disable=g-import-not-at-top
  from tfp_flows import configurables  # pylint: disable=g-import-not-at-top,unused-import
  gin.clear_config()
  gin.parse_config_files_and_bindings([config], [])
  return gin.query_parameter('train.num_steps')


def _latest_step(model_dir):
  """Step of the newest intact checkpoint in `model_dir`, or None."""
  from tfp_flows.models import checkpoints  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(model_dir):
    return None
  paths = checkpoints.checkpoint_paths(model_dir)
  return int(paths[0].rsplit('-', 1)[1]) if paths else None


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--runs_dir', default=os.path.join(REPO, 'runs'))
  parser.add_argument('--configs', default=','.join(ORDER))
  parser.add_argument('--num_eval_images', type=int, default=10000)
  parser.add_argument('--output', default=os.path.join(
      REPO, 'bench', 'results', 'research_training.json'))
  args = parser.parse_args()
  from tfp_flows.utils import atomic_write_json  # pylint: disable=g-import-not-at-top

  results = {}
  if os.path.exists(args.output):
    with open(args.output) as f:
      results = json.load(f).get('results', {})

  def save():
    atomic_write_json(args.output, dict(
        updated=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        cpus=os.cpu_count(), runs_dir=args.runs_dir, results=results))

  for name in args.configs.split(','):
    config = os.path.join(REPO, 'gin_configs', name + '.gin')
    if not os.path.exists(config):
      parser.error(f'no config {config}')
    run_dir = os.path.join(args.runs_dir, name)
    final = _final_step(config)
    entry = results.setdefault(name, dict(num_steps=final, segments=[]))
    start_step = _latest_step(run_dir) or 0
    if start_step < final:
      print(f'== {name}: training from step {start_step} to {final} in '
            f'{run_dir}', flush=True)
      wall, cpu = time.perf_counter(), _child_cpu_seconds()
      subprocess.run([sys.executable, os.path.join(REPO, 'bin', 'train'),
                      f'--gin_file={config}', f'--model_dir={run_dir}'],
                     check=True)
      entry['segments'].append(dict(
          from_step=start_step, to_step=_latest_step(run_dir) or 0,
          wall_seconds=time.perf_counter() - wall,
          cpu_seconds=_child_cpu_seconds() - cpu,
          finished=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())))
      entry.pop('test', None)
      save()
    if 'test' not in entry:
      print(f'== {name}: evaluating on {args.num_eval_images} test images '
            'per data set', flush=True)
      tick = time.perf_counter()
      out = subprocess.run([sys.executable, '-c', _EVAL_CHILD, run_dir,
                            str(args.num_eval_images)], capture_output=True,
                           text=True, check=False)
      if out.returncode:
        raise RuntimeError(f'evaluating {name} failed:\n{out.stderr[-3000:]}')
      entry['test'] = json.loads(out.stdout.strip().splitlines()[-1])
      entry['eval_seconds'] = time.perf_counter() - tick
      save()
    test = entry['test']
    print(f'{name}: step {final}; ' + ', '.join(
        f'{d} {test[d]["mean"]:.4f} bits/dim' for d in
        (test['dataset'], test['ood_dataset'])) +
          f'; OoD AUROC {test["ood_auroc"]:.3f}', flush=True)
  print(f'Wrote {args.output}')


if __name__ == '__main__':
  main()
