"""The reproduction of the reference paper on the shipped checkpoints: what `bin/reproduce` runs.

It loads the models shipped in `checkpoints/` (the paper's four Glows, two
PixelCNNs and two classifiers; `shipped_models.py`), runs the SIT study with
the paper's settings (`sits.preset('paper')` plus the same Gaussian noise with
the clean image at the bin centre, which tests the paper's explanation) on a
seeded, class-stratified sample of both test sets, measures every claim of
the paper with a computed verdict (`analysis/claims.py`), and writes the
page (`analysis/reproduction_page.py`) with its figures. It never trains
unless asked to (`--retrain`).

Modes:
  (default)  DEFAULT_NUM_IMAGES images per test set; writes
             docs/REPRODUCTION.md and docs/reproduction/.
  --full     all 10,000 images per set; docs/REPRODUCTION_FULL.md and
             docs/reproduction_full/.
  --quick    QUICK_NUM_IMAGES images per set, page in --output_dir only (tests).
  --retrain  first retrains every model from its config into runs/ (resuming
             a stopped run), exports it to runs/checkpoints/, and uses those.

Usage:
  python -m tfp_flows.experiments.study [--full | --quick] [--retrain]
      [--checkpoints_dir=checkpoints] [--output_dir=results/reproduce]
      [--num_images=N] [--allow_missing]
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time

from tfp_flows import sits as sits_lib
from tfp_flows.analysis import claims as claims_lib
from tfp_flows.analysis import entry
from tfp_flows.analysis import per_image
from tfp_flows.analysis import reproduction_page
from tfp_flows.classifiers import loading as classifier_loading
from tfp_flows.experiments import shipped_models
from tfp_flows.experiments import shipping
from tfp_flows.models import checkpoints
from tfp_flows.models import loading
from tfp_flows.utils import atomic

__all__ = ['DEFAULT_NUM_IMAGES', 'QUICK_NUM_IMAGES', 'ReproduceError',
           'check_checkpoints', 'main', 'run']

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
# Sized so that a fresh clone, set-up included, finishes in <= 15 min on 2
# cores (README, measured).
DEFAULT_NUM_IMAGES = 300
QUICK_NUM_IMAGES = 20
STUDY_SITS_EXTRA = ('noise_normal_eps0.001_all_centre',)


class ReproduceError(Exception):
  """A one-line user error: a missing or damaged checkpoint, a bad flag."""


def _parse_args(argv):
  parser = argparse.ArgumentParser(prog='bin/reproduce',
                                   description=__doc__.split('\n\n')[0])
  mode = parser.add_mutually_exclusive_group()
  mode.add_argument('--full', action='store_true',
                    help='all 10,000 test images per set')
  mode.add_argument('--quick', action='store_true',
                    help=f'{QUICK_NUM_IMAGES} images per set (tests)')
  parser.add_argument('--retrain', action='store_true',
                      help='retrain every model from its config first')
  parser.add_argument('--checkpoints_dir',
                      default=os.path.join(REPO, 'checkpoints'))
  parser.add_argument('--runs_dir', default=os.path.join(REPO, 'runs'),
                      help='where --retrain trains')
  parser.add_argument('--output_dir',
                      default=os.path.join(REPO, 'results', 'reproduce'))
  parser.add_argument('--page', default=None,
                      help='page to write (default: docs/REPRODUCTION.md, '
                      'docs/REPRODUCTION_FULL.md with --full, '
                      'OUTPUT_DIR/REPRODUCTION.md with --quick)')
  parser.add_argument('--num_images', type=int, default=None,
                      help='images per test set (overrides the mode)')
  parser.add_argument('--allow_missing', action='store_true',
                      help='measure with the checkpoints present; claims of '
                      'missing ones are marked "not reproducible here"')
  args = parser.parse_args(argv)
  if args.num_images is None:
    args.num_images = (None if args.full else QUICK_NUM_IMAGES if args.quick
                       else DEFAULT_NUM_IMAGES)
  elif not 0 < args.num_images <= 10000:
    parser.error('--num_images must be in [1, 10000]')
  if args.page is None:
    args.page = (os.path.join(args.output_dir, 'REPRODUCTION.md')
                 if args.quick else os.path.join(
                     REPO, 'docs', 'REPRODUCTION_FULL.md' if args.full
                     else 'REPRODUCTION.md'))
  return args


def _one_line(error):
  text = str(error).strip().splitlines()
  return text[0] if text else type(error).__name__


def check_checkpoints(checkpoints_dir, allow_missing=False,
                      required=None):
  """Finds and validates the shipped checkpoints.

  Args:
    checkpoints_dir: directory holding `<name>/` for each shipped model.
    allow_missing: skip absent required models instead of failing.
    required: names that must be present (default:
      `shipped_models.SHIPPED`, the ones committed so far); other absent
      models are reported as not yet trained.

  Returns:
    `(density, classifiers, missing)`: lists of `(ShippedModel, path)` and
    `(name, dataset, path)`, and `(name, reason)` of the absent ones.

  Raises:
    ReproduceError: a required model is absent (unless `allow_missing`) or
      any present directory is damaged; the message names it.
  """
  required = shipped_models.SHIPPED if required is None else required
  density, classifiers, missing = [], [], []

  def absent(name):
    reason = ('missing' if name in required else 'not yet trained and '
              'shipped')
    missing.append((name, reason))

  for model in shipped_models.DENSITY_MODELS:
    path = os.path.join(checkpoints_dir, model.name)
    if not os.path.isdir(path):
      absent(model.name)
      continue
    for filename in (loading.MODEL_JSON, 'operative_config.gin', 'card.json'):
      if not os.path.exists(os.path.join(path, filename)):
        raise ReproduceError(f'checkpoint {path} is damaged: {filename} is '
                             'missing.')
    paths = checkpoints.checkpoint_paths(path)
    if not paths:
      raise ReproduceError(f'checkpoint {path} is damaged: no ckpt-* files.')
    damage = checkpoints.checkpoint_damage(paths[0])
    if damage is not None:
      raise ReproduceError(f'checkpoint {paths[0]} is damaged: {damage}.')
    density.append((model, path))
  for name, dataset in shipped_models.CLASSIFIERS:
    path = os.path.join(checkpoints_dir, name)
    if not os.path.isdir(path):
      absent(name)
      continue
    try:
      classifier_loading.load_classifier(path)
    except (OSError, ValueError) as e:
      raise ReproduceError(f'classifier {path} is damaged: '
                           f'{_one_line(e)}') from None
    classifiers.append((name, dataset, path))
  lacking = [name for name, reason in missing if reason == 'missing']
  if lacking and not allow_missing:
    raise ReproduceError(
        f'{checkpoints_dir} lacks {", ".join(lacking)} (git checkout '
        'checkpoints/ restores shipped ones; --retrain trains them; '
        '--allow_missing measures without them).')
  if not density:
    raise ReproduceError(f'{checkpoints_dir} holds none of the shipped '
                         'density models.')
  return density, classifiers, missing


def _retrain(args):
  """Trains every shipped model from its config and exports it."""
  hours = 0.
  for model in shipped_models.DENSITY_MODELS:
    card = os.path.join(args.checkpoints_dir, model.name)
    try:
      hours += shipping.read_card(card)['wall_hours']
    except (OSError, ValueError):
      pass
  print(f'== --retrain: the shipped models took {hours:.1f} h of training '
        'wall time on 2 cores (their model cards); a stopped run resumes.',
        flush=True)
  out_root = os.path.join(args.runs_dir, 'checkpoints')
  for model in shipped_models.DENSITY_MODELS:
    run_dir = os.path.join(args.runs_dir, model.config)
    cmd = [sys.executable, os.path.join(REPO, 'bin', 'train'),
           f'--gin_file={os.path.join(REPO, "gin_configs", model.config)}.gin',
           f'--model_dir={run_dir}']
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    goal, literature, published = shipping.registry_defaults(model.name,
                                                             out_root)
    shipping.ship(run_dir, model.name, out_root, goal=goal,
                  literature=literature, literature_bits_per_dim=published)
  for name, dataset in shipped_models.CLASSIFIERS:
    cmd = [sys.executable, '-m', 'tfp_flows.classifiers.cli',
           '--gin_file=' + os.path.join(REPO, 'gin_configs', 'classifiers',
                                        dataset + '.gin'),
           f'--model_dir={os.path.join(out_root, name)}']
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
  return out_root


def _figures(output_dir, page_dir, figure_dir_name, density):
  """Copies the paper figures next to the page; returns (caption, path)."""
  src = os.path.join(output_dir, 'figures')
  dst = os.path.join(page_dir, figure_dir_name)
  wanted = [('Fig. 1: bits/dim per class, clean and shifted',
             'paper_fig1_translation.png'),
            ('Fig. 4: bits/dim per class, clean and zeroed latents',
             'paper_fig4_zero_latents.png')]
  for model, _ in density:
    if model.family == 'glow_affine':
      wanted.append((f'Fig. 5: {model.name}, clean and zeroed',
                     f'paper_fig5_{model.name}.png'))
    wanted.append((f'Fig. 3 equivalent: {model.name} examples under the '
                   'SITs, bits/dim on each', f'grid_{model.name}_'
                   f'{model.dataset}.png'))
  figures = []
  os.makedirs(dst, exist_ok=True)
  for caption, name in wanted:
    if os.path.exists(os.path.join(src, name)):
      shutil.copy(os.path.join(src, name), os.path.join(dst, name))
      figures.append((caption, f'{figure_dir_name}/{name}'))
  return figures


def _commit():
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                          capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def run(args):
  """Runs the reproduction; returns the page path."""
  start = time.perf_counter()
  checkpoints_dir = _retrain(args) if args.retrain else args.checkpoints_dir
  # Retrained models must all be there; shipped ones as far as committed.
  required = None
  if args.retrain:
    required = {m.name for m in shipped_models.DENSITY_MODELS} | {
        n for n, _ in shipped_models.CLASSIFIERS}
  density, classifiers, missing = check_checkpoints(
      checkpoints_dir, allow_missing=args.allow_missing, required=required)
  for name, reason in missing:
    print(f'== {name}: {reason} in {checkpoints_dir}; its claims are marked '
          'not reproducible here.', flush=True)
  sits = sits_lib.preset('paper') + [_named_sit(n) for n in STUDY_SITS_EXTRA]
  has_glow = any(m.family.startswith('glow') for m, _ in density)
  if not has_glow:
    sits = [s for s in sits if type(s).__name__ != 'ZeroLatents']
  try:
    entry.analyze_sits(
        [path for _, path in density], args.output_dir,
        num_images=args.num_images, sits=sits,
        datasets=['mnist', 'fashion_mnist'],
        classifier_dirs=[path for _, _, path in classifiers],
        write_tensorboard=False)
  except (OSError, ValueError) as e:
    raise ReproduceError(_one_line(e)) from e
  table = per_image.read_csv(os.path.join(args.output_dir, 'per_image.csv'))
  roles = {m.name: (m.family, m.dataset) for m, _ in density}
  claims = claims_lib.evaluate_claims(table, roles)
  rows = claims_lib.table1(table, roles)
  page_dir = os.path.dirname(os.path.abspath(args.page))
  stem = os.path.splitext(os.path.basename(args.page))[0].lower()
  figures = _figures(args.output_dir, page_dir, stem, density)
  descriptions = []
  for model, path in density:
    card = shipping.read_card(path)
    own = card['results']['own_full']
    descriptions.append((model.name, (
        f'{card["steps"]:,} steps ({card["epochs"]:.1f} epochs); '
        f'{own["bits_per_dim"]:.3f} bits/dim on the {model.dataset} test set '
        f'([model card]({os.path.relpath(path, page_dir)}/MODEL_CARD.md))')))
  for name, _, path in classifiers:
    descriptions.append((name, f'classifier ({os.path.relpath(path, page_dir)})'))
  for name, reason in missing:
    descriptions.append((name, f'{reason}: its cells are not measured'))
  command = 'bin/reproduce' + (' --full' if args.full else ' --quick'
                               if args.quick else '')
  text = reproduction_page.render(claims, rows, dict(
      command=command, num_images=args.num_images, models=descriptions,
      seconds=time.perf_counter() - start,
      machine=shipping.machine_description(), commit=_commit(),
      date=datetime.date.today().isoformat()), figures)
  os.makedirs(page_dir, exist_ok=True)
  atomic.atomic_write_text(args.page, text)
  return args.page, claims


def _named_sit(name):
  found = [s for s in sits_lib.preset('default') if s.name == name]
  if not found:
    raise ValueError(f'no SIT named {name!r} in the default preset')
  return found[0]


def main(argv=None):
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  start = time.perf_counter()
  try:
    page, claims = run(args)
  except ReproduceError as e:
    print(f'bin/reproduce: error: {e}', file=sys.stderr)
    sys.exit(2)
  tally = {}
  for claim in claims:
    tally[claim.verdict] = tally.get(claim.verdict, 0) + 1
  print(f'Reproduction done in {(time.perf_counter() - start) / 60:.1f} min: '
        f'{len(claims)} claims (' + ', '.join(
            f'{n} {v}' for v, n in sorted(tally.items())) + f'). Page: {page}')


if __name__ == '__main__':
  main()
