"""Turns a finished `bin/train` run into a shipped checkpoint, `checkpoints/NAME/`.

A shipped checkpoint is what `tfp_flows.models.load` reads, and no more:

  model.json                    the model's class and arguments (rebuilds it)
  operative_config.gin          the run's config
  ckpt-<step>.index / .data-*   final weights only: the EMA weights where the
                                run kept them, no optimizer state
  training_curve.csv            step, wall_seconds, train_bits_per_dim,
                                test_bits_per_dim, ood_bits_per_dim (the
                                trainer's summaries; bits/dim per original
                                pixel)
  samples.png                   a sample grid (Glow: temperature 0.7)
  card.json                     every number of the card (the tests read it)
  MODEL_CARD.md                 the same, for people

Usage:
  python -m tfp_flows.experiments.shipping --model_dir=runs/X --name=NAME
      [--output_root=checkpoints] [--goal=3.30] [--literature='...']
"""

import argparse
import csv
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from tfp_flows import classifiers
from tfp_flows import data
from tfp_flows import models
from tfp_flows.analysis import sampling
from tfp_flows.analysis import statistics
from tfp_flows.experiments import shipped_models
from tfp_flows.models import evaluation
from tfp_flows.models import loading
from tfp_flows.utils import atomic
from tfp_flows.utils import config_text
from tfp_flows.utils import display

__all__ = ['CARD_FILENAME', 'CURVE_COLUMNS', 'SAMPLE_SEED', 'card_sample',
           'export_weights', 'main', 'machine_description', 'read_card',
           'registry_defaults', 'ship', 'training_curve',
           'write_classifier_card']

CARD_FILENAME = 'card.json'
CURVE_COLUMNS = ('step', 'wall_seconds', 'train_bits_per_dim',
                 'test_bits_per_dim', 'ood_bits_per_dim')
# The fixed test sample the card (and the shipped-checkpoint test) scores:
# the first images of a class-stratified, seeded draw.
SAMPLE_SEED = 0
SAMPLE_SIZE = 500


def machine_description():
  """'<CPU model>, <n> cores, AVX-512|AVX2' from /proc/cpuinfo (Linux)."""
  model, flags = None, ''
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name') and model is None:
          model = line.split(':', 1)[1].strip()
        elif line.startswith('flags'):
          flags = line
  except OSError:
    pass
  model = model or platform.processor() or 'unknown CPU'
  isa = 'AVX-512' if 'avx512f' in flags else (
      'AVX2' if 'avx2' in flags else 'no AVX2')
  return f'{model}, {os.cpu_count()} cores, {isa}'


def training_curve(model_dir):
  """The run's training curve from its TensorBoard events.

  Args:
    model_dir: a `bin/train` model directory (events under `train/`).

  Returns:
    `list` of `dict` rows keyed by `CURVE_COLUMNS`, sorted by step; missing
    values are `None` (train bits/dim is summarised every
    `train.summary_every` steps, the evaluations every `train.eval_every`).
    `wall_seconds` counts from the first event, so a resumed run's pause is
    included.
  """
  config = _read_config(model_dir)
  own = config.get('train.dataset', 'fashion_mnist')
  ood = data.ood_dataset_for(own)
  tags = {'train/bits_per_dim': 'train_bits_per_dim',
          f'eval/{own}/bits_per_dim': 'test_bits_per_dim',
          f'eval/{ood}/bits_per_dim': 'ood_bits_per_dim'}
  events_dir = os.path.join(model_dir, 'train')
  files = sorted(tf.io.gfile.glob(os.path.join(events_dir, 'events.*')))
  if not files:
    raise FileNotFoundError(f'{events_dir} has no TensorBoard events.')
  rows, first_wall = {}, None
  for path in files:
    for event in tf.compat.v1.train.summary_iterator(path):
      if first_wall is None or event.wall_time < first_wall:
        first_wall = event.wall_time
      for value in event.summary.value:
        column = tags.get(value.tag)
        if column is None:
          continue
        number = float(tf.make_ndarray(value.tensor)) if value.HasField(
            'tensor') else float(value.simple_value)
        row = rows.setdefault(event.step, dict.fromkeys(CURVE_COLUMNS))
        row['step'] = int(event.step)
        # The latest write of a step wins (a resumed run repeats steps).
        row['wall_seconds'] = event.wall_time
        row[column] = number
  out = [rows[s] for s in sorted(rows)]
  for row in out:
    row['wall_seconds'] = round(row['wall_seconds'] - first_wall, 1)
  return out


def _curve_csv(rows):
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, lineterminator='\n')
  writer.writeheader()
  for row in rows:
    writer.writerow({k: ('' if v is None else
                         (f'{v:.5f}' if isinstance(v, float) and k != 'wall_seconds'
                          else v)) for k, v in row.items()})
  return buf.getvalue()


def _read_config(model_dir):
  """Bindings of `model_dir/operative_config.gin` as {name: python value}."""
  path = os.path.join(model_dir, 'operative_config.gin')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} is missing: {model_dir!r} is not a '
                            'model directory written by bin/train.')
  with open(path, encoding='utf-8') as f:
    return config_text.literal_bindings(f.read())


def export_weights(model, output_dir):
  """Writes the model's current weights (no optimizer) as `ckpt-<step>`.

  Args:
    model: a model returned by `tfp_flows.models.load` (EMA weights already
      swapped in by it); its `checkpoint_path` names the step.
    output_dir: an existing directory.

  Returns:
    The checkpoint path prefix written.
  """
  step = os.path.basename(model.checkpoint_path).rsplit('-', 1)[1]
  return tf.train.Checkpoint(model=model).write(
      os.path.join(output_dir, f'ckpt-{step}'))


def card_sample(dataset, size=SAMPLE_SIZE):
  """The card's fixed test sample: `size` class-stratified, seeded images."""
  return _card_sample_and_labels(dataset, size)[0]


def _card_sample_and_labels(dataset, size=SAMPLE_SIZE):
  """`(images, labels)` of the card's fixed test sample."""
  images, labels = data.load(dataset, 'test')
  idx = sampling.stratified_indices(labels, size, seed=SAMPLE_SEED)
  return images[idx], labels[idx]


def _score(model, images):
  bpd = evaluation.evaluate_bits_per_dim(model, images, batch_size=256)
  low, high = statistics.bootstrap_mean_ci(bpd)
  factor = model.per_model_pixel_factor
  return dict(num_images=int(len(bpd)), bits_per_dim=float(bpd.mean()),
              ci95=[low, high], bits_per_model_pixel=float(bpd.mean() * factor))


def _sample_png(model, seed=0):
  kwargs = ({'temperature': 0.7} if 'temperature' in
            model.sample.__code__.co_varnames else {})
  images = np.asarray(model.sample(16, seed=seed, **kwargs))
  grid = display.image_grid(images.astype(np.uint8), num_cols=8)[0]
  return tf.io.encode_png(grid).numpy(), kwargs.get('temperature')


def _fmt(value, digits=3):
  return '-' if value is None else f'{value:.{digits}f}'


def render_card(card):
  """MODEL_CARD.md text from a card dict (see `ship`)."""
  own, ood = card['dataset'], card['ood_dataset']
  res = card['results']
  lines = [
      f'# {card["name"]}', '',
      f'{card["model"]} trained on {own} (the whole 60,000-image training '
      f'split) with `bin/train --gin_file=gin_configs/{card["config"]}.gin`; '
      'the exact configuration is `operative_config.gin` beside this card.',
      '', '| | |', '|---|---|',
      f'| data | {own}, 28x28x1 uint8, uniform dequantisation |',
      f'| parameters | {card["num_parameters"]:,} |',
      f'| steps | {card["steps"]:,} at batch {card["batch_size"]} '
      f'({card["epochs"]:.1f} epochs) |',
      f'| weights | {card["weights"]} |',
      f'| training wall time | {card["wall_hours"]:.2f} h ({card["wall_note"]}) |',
      f'| machine | {card["machine"]} |',
      f'| exported (and scored) by | code of commit `{card["commit"]}` |', '',
      '## Test bits/dim', '',
      'Bits/dim per original pixel (D = 784, the goal\'s unit) and per model '
      'input pixel (D\' = h*w*c of what the model sees, 1024 for a Glow on '
      'the 28x28 image padded to 32x32); mean over the images with a 95% '
      'bootstrap interval; `tfp_flows.models.discrete` defines both.', '',
      '| test set | images | bits/dim (D = 784) | 95% interval | per model pixel |',
      '|---|---|---|---|---|']
  for key, label in (('own_full', f'{own} (own)'), ('ood_full', f'{ood} (OoD)'),
                     ('own_sample', f'{own}, card sample'),
                     ('ood_sample', f'{ood}, card sample')):
    r = res[key]
    lines.append(f'| {label} | {r["num_images"]:,} | **{r["bits_per_dim"]:.3f}** '
                 f'| [{r["ci95"][0]:.3f}, {r["ci95"][1]:.3f}] | '
                 f'{r["bits_per_model_pixel"]:.3f} |')
  goal = card.get('goal')
  lines += ['', 'The card sample is the seeded, class-stratified '
            f'{SAMPLE_SIZE}-image draw of `shipping.card_sample` that '
            '`tests/test_shipped_checkpoints.py` re-scores (tolerance 0.02).',
            '', '## Against the goal and the literature', '']
  if goal is not None:
    gap = res['own_full']['bits_per_dim'] - goal
    verdict = ('met' if gap <= 0 else f'missed by {gap:.3f} bits/dim')
    lines.append(f'- Goal: <= {goal:.2f} bits/dim on the {own} test set: '
                 f'**{verdict}** ({res["own_full"]["bits_per_dim"]:.3f}).')
  if card.get('literature'):
    lines.append(f'- Literature: {card["literature"]}')
  if card.get('literature_bits_per_dim') is not None:
    gap = res['own_full']['bits_per_dim'] - card['literature_bits_per_dim']
    lines.append(f'- Distance from the published figure '
                 f'(~{card["literature_bits_per_dim"]:.2f}): {gap:+.3f} '
                 'bits/dim.')
  if card.get('notes'):
    lines += [f'- {note}' for note in card['notes']]
  lines += ['', '## Training curve', '',
            '`training_curve.csv` (bits/dim per original pixel; test and OoD '
            'columns are the trainer\'s evaluations on the first '
            f'{card["num_eval_images"]:,} test images, weights as evaluated '
            'by the trainer):', '',
            '| step | wall h | train (batch) | test | OoD |', '|---|---|---|---|---|']
  for row in card['curve_evals']:
    lines.append(f'| {row["step"]:,} | {row["wall_seconds"] / 3600:.2f} | '
                 f'{_fmt(row["train_bits_per_dim"])} | '
                 f'{_fmt(row["test_bits_per_dim"])} | '
                 f'{_fmt(row["ood_bits_per_dim"])} |')
  lines += ['', f'![samples](samples.png) {card["samples_caption"]}', '']
  return '\n'.join(lines)


def _git_commit():
  try:
    out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    return out.stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def ship(model_dir, name, output_root='checkpoints', goal=None,
         literature=None, notes=(), wall_note='from the run\'s TensorBoard '
         'events, first to last', commit=None, literature_bits_per_dim=None,
         config_name=None):
  """Writes `output_root/name/` from the finished run in `model_dir`.

  Everything is written to a temporary directory beside the target and
  renamed into place last, so an interrupted export leaves no half-written
  checkpoint.

  Args:
    model_dir: a `bin/train` run that reached its final step.
    name: the shipped checkpoint's name (a directory name).
    output_root: where shipped checkpoints live.
    goal: optional bits/dim (per original pixel) the model was meant to reach
      on its own test set.
    literature: optional text: published reference points.
    literature_bits_per_dim: optional published test bits/dim to state the
      distance from.
    notes: extra card lines.
    wall_note: how the wall time was measured.
    commit: code version (default: the repository's HEAD).
    config_name: the gin_configs/ name the run was trained from (default: the
      run's directory name or `name`, whichever is a config), for runs
      trained from a config with --gin_param overrides (say which in
      `notes`).

  Returns:
    The card `dict` (also written as `card.json`).
  """
  config = _read_config(model_dir)
  final = config.get('train.num_steps')
  model = models.load(model_dir)
  step = int(os.path.basename(model.checkpoint_path).rsplit('-', 1)[1])
  if final is not None and step < final:
    raise ValueError(f'{model_dir!r} stopped at step {step} of {final}: '
                     'ship finished runs only.')
  own = model.training_dataset
  ood = data.ood_dataset_for(own)
  curve = training_curve(model_dir)
  os.makedirs(output_root, exist_ok=True)
  target = os.path.join(output_root, name)
  staging = tempfile.mkdtemp(prefix=f'.{name}.', dir=output_root)
  try:
    export_weights(model, staging)
    shutil.copy(os.path.join(model_dir, 'operative_config.gin'), staging)
    # What `models.load` rebuilds the model from (runs trained before
    # bin/train wrote it have only the operative config).
    loading.write_model_json(staging, model, own, model.training_options)
    with open(os.path.join(staging, 'training_curve.csv'), 'w',
              encoding='utf-8') as f:
      f.write(_curve_csv(curve))
    png, temperature = _sample_png(model)
    with open(os.path.join(staging, 'samples.png'), 'wb') as f:
      f.write(png)
    own_images, _ = data.load(own, 'test')
    ood_images, _ = data.load(ood, 'test')
    results = dict(own_full=_score(model, own_images),
                   ood_full=_score(model, ood_images),
                   own_sample=_score(model, card_sample(own)),
                   ood_sample=_score(model, card_sample(ood)))
    batch = config.get('train.batch_size', 64)
    card = dict(
        name=name, config=config_name or _config_name(model_dir, name),
        model=type(model).__name__, dataset=own, ood_dataset=ood,
        num_parameters=int(sum(int(np.prod(v.shape))
                               for v in model.trainable_variables)),
        steps=step, batch_size=batch, epochs=step * batch / 60000.,
        weights=('EMA (Polyak) averages, decay '
                 f'{config["train.ema_decay"]}'
                 if config.get('train.ema_decay') else 'final weights'),
        wall_hours=(curve[-1]['wall_seconds'] / 3600. if curve else 0.),
        wall_note=wall_note, machine=machine_description(),
        commit=commit or _git_commit(), goal=goal, literature=literature,
        literature_bits_per_dim=literature_bits_per_dim,
        notes=list(notes), results=results,
        num_eval_images=config.get('train.num_eval_images', 0),
        curve_evals=[r for r in curve if r['test_bits_per_dim'] is not None],
        samples_caption=(f'16 samples at temperature {temperature}.'
                         if temperature else '16 samples.'),
        written=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    with open(os.path.join(staging, CARD_FILENAME), 'w', encoding='utf-8') as f:
      json.dump(card, f, indent=1)
      f.write('\n')
    with open(os.path.join(staging, 'MODEL_CARD.md'), 'w',
              encoding='utf-8') as f:
      f.write(render_card(card))
    if os.path.exists(target):
      shutil.rmtree(target)
    os.rename(staging, target)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return card


def _config_name(model_dir, name):
  """The gin_configs/ name of the run: its directory name, else `name`."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  for candidate in (os.path.basename(os.path.normpath(model_dir)), name):
    if os.path.exists(os.path.join(repo, 'gin_configs', candidate + '.gin')):
      return candidate
  return name


def write_classifier_card(classifier_dir, name):
  """Writes `card.json` and `MODEL_CARD.md` into a trained classifier's dir.

  The classifier (`bin/train_classifier`'s `classifier.json` and
  `weights.npz`) is shipped as it is; the card adds its accuracy on the
  whole test set and on the card sample, recomputed here.

  Returns:
    The card `dict`.
  """
  classifier = classifiers.load_classifier(classifier_dir)
  with open(os.path.join(classifier_dir, 'classifier.json'),
            encoding='utf-8') as f:
    record = json.load(f)
  dataset = classifier.dataset
  images, labels = data.load(dataset, 'test')
  results = {}
  for key, (x, y) in (('full', (images, labels)),
                      ('sample', _card_sample_and_labels(dataset))):
    correct = 100. * (np.asarray(classifier.predict(x)) == y)
    low, high = statistics.bootstrap_mean_ci(correct)
    results[key] = dict(num_images=int(len(y)),
                        accuracy_percent=float(correct.mean()),
                        ci95=[low, high])
  training = record.get('training', {})
  metrics = record.get('metrics', {})
  card = dict(name=name, dataset=dataset, kind='classifier',
              architecture=record.get('config'), training=training,
              results=results, machine=machine_description(),
              commit=_git_commit(),
              written=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  full = results['full']
  lines = [f'# {name}', '',
           f'CNN classifier of {dataset} (`tfp_flows.classifiers`), trained '
           f'by `bin/train_classifier --gin_file=gin_configs/classifiers/'
           f'{dataset}.gin` on the 60,000 training images; the instrument of '
           'the paper\'s Table 1 (does a SIT change what the image shows?).',
           '', '| | |', '|---|---|',
           f'| training | {json.dumps(training, sort_keys=True)} |',
           f'| training time | {metrics.get("train_seconds", 0) / 60:.1f} min '
           f'({metrics.get("images_per_second", 0):.0f} img/s) |',
           f'| machine | {card["machine"]} |',
           f'| card written by | code of commit `{card["commit"]}` |', '',
           f'Test accuracy: **{full["accuracy_percent"]:.2f}%** '
           f'[{full["ci95"][0]:.2f}, {full["ci95"][1]:.2f}] on all '
           f'{full["num_images"]:,} test images; '
           f'{results["sample"]["accuracy_percent"]:.2f}% on the '
           f'{SAMPLE_SIZE}-image card sample. The paper\'s classifiers: '
           '99.31% (MNIST), 93.03% (FashionMNIST).', '']
  atomic.atomic_write_json(os.path.join(classifier_dir, CARD_FILENAME), card)
  atomic.atomic_write_text(os.path.join(classifier_dir, 'MODEL_CARD.md'),
                           '\n'.join(lines))
  return card


def read_card(checkpoint_dir):
  """The parsed `card.json` of a shipped checkpoint; one-line errors."""
  path = os.path.join(checkpoint_dir, CARD_FILENAME)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} is missing: {checkpoint_dir!r} is not a '
                            'shipped checkpoint.')
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except ValueError as e:
    raise ValueError(f'{path} is corrupt: {e}') from None


def registry_defaults(name, output_root):
  """(goal, literature, published bits/dim) of a registered shipped model,
  else Nones.

  An additive Glow's goal is the shipped affine Glow's test bits/dim on the
  same data set plus `ADDITIVE_GAP` (None while that one is not shipped).
  """
  spec = shipped_models.registered(name)
  if spec is None:
    return None, None, None
  affine = None
  if spec.family == 'glow_additive':
    twin = next(m for m in shipped_models.DENSITY_MODELS
                if m.family == 'glow_affine' and m.dataset == spec.dataset)
    try:
      affine = read_card(os.path.join(output_root, twin.name))[
          'results']['own_full']['bits_per_dim']
    except (OSError, ValueError, KeyError):
      affine = None
  return (shipped_models.goal_of(spec, affine), spec.literature,
          spec.literature_bits_per_dim)


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog='python -m tfp_flows.experiments.shipping',
      description=__doc__.split('\n\n')[0])
  parser.add_argument('--model_dir', required=True)
  parser.add_argument('--classifier', action='store_true',
                      help='MODEL_DIR is a trained classifier: write its '
                      'card in place')
  parser.add_argument('--name', required=True)
  parser.add_argument('--output_root', default='checkpoints')
  parser.add_argument('--goal', type=float, default=None)
  parser.add_argument('--literature', default=None)
  parser.add_argument('--note', action='append', default=[])
  parser.add_argument('--config', default=None,
                      help='gin_configs/ name the run was trained from '
                      '(default: the run directory name or --name)')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  if args.classifier:
    card = write_classifier_card(args.model_dir, args.name)
    print(f'Wrote the card of {args.model_dir}: '
          f'{card["results"]["full"]["accuracy_percent"]:.2f}% test accuracy.')
    return
  goal, literature, published = registry_defaults(args.name,
                                                   args.output_root)
  card = ship(args.model_dir, args.name, args.output_root,
              goal=goal if args.goal is None else args.goal,
              literature=args.literature or literature, notes=args.note,
              literature_bits_per_dim=published, config_name=args.config)
  own = card['results']['own_full']
  print(f'Wrote {os.path.join(args.output_root, args.name)}: '
        f'{own["bits_per_dim"]:.3f} bits/dim on {card["dataset"]}.')


if __name__ == '__main__':
  main()
