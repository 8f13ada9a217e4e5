"""Command line of `bin/train_classifier`: trains a gin-configured classifier.

  bin/train_classifier --dataset=mnist --model_dir=DIR
  bin/train_classifier --gin_file=gin_configs/classifiers/mnist.gin \
      [--gin_file=...] [--gin_param='train_classifier.epochs = 2' ...] \
      --model_dir=DIR

`--dataset` alone uses `gin_configs/classifiers/<dataset>.gin`; with
`--gin_file` it overrides `train_classifier.dataset`. Writes `DIR/weights.npz`,
`DIR/classifier.json` and `DIR/operative_config.gin`; an existing classifier
in DIR is replaced when the new one is done. Configuration errors are one
line on stderr and exit status 2.

Run as `python -m tfp_flows.classifiers.cli` (what the wrapper does). This
module defines absl flags on import: entry point only, never import it from
library code.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Imported after the environment variable above, which TF reads on import.
from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top

from tfp_flows import data  # pylint: disable=g-import-not-at-top
from tfp_flows.classifiers import configurables  # pylint: disable=g-import-not-at-top
from tfp_flows.utils import atomic  # pylint: disable=g-import-not-at-top

__all__ = ['main', 'default_gin_file']

_PROG = 'train_classifier'
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

flags.DEFINE_multi_string('gin_file', [], 'Gin config files, in order.')
flags.DEFINE_multi_string('gin_param', [], 'Gin bindings, after the files.')
flags.DEFINE_string(
    'dataset', None, "'fashion_mnist' or 'mnist'. Without --gin_file, uses "
    'gin_configs/classifiers/<dataset>.gin; with it, overrides '
    'train_classifier.dataset.')
flags.DEFINE_string('model_dir', None,
                    'Output directory (weights.npz, classifier.json).')
flags.mark_flag_as_required('model_dir')
FLAGS = flags.FLAGS


def default_gin_file(dataset):
  """Path of the checked-in config for `dataset` (may not exist)."""
  return os.path.join(_REPO_ROOT, 'gin_configs', 'classifiers',
                      f'{dataset}.gin')


def _fail(message, status=2):
  print(f'{_PROG}: error: {message}', file=sys.stderr)
  sys.exit(status)


def _first_line(error):
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__


def main(argv):
  """Parses the gin configuration, trains, saves; see the module docstring."""
  logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    _fail(f'unexpected arguments {argv[1:]}; use --gin_param for bindings.')

  gin_files = list(FLAGS.gin_file)
  gin_params = list(FLAGS.gin_param)
  if FLAGS.dataset is not None:
    if FLAGS.dataset not in data.REAL_DATASETS:
      _fail(f'--dataset must be one of {", ".join(data.REAL_DATASETS)}; got '
            f'{FLAGS.dataset!r}.')
    if not gin_files:
      gin_files = [default_gin_file(FLAGS.dataset)]
    gin_params.append(f'train_classifier.dataset = {FLAGS.dataset!r}')
  elif not gin_files:
    _fail('pass --dataset=fashion_mnist|mnist or --gin_file=...')
  for path in gin_files:
    if not os.path.isfile(path):
      _fail(f'gin file {path!r} does not exist.')

  try:
    gin.parse_config_files_and_bindings(gin_files, gin_params)
  except (ValueError, KeyError, SyntaxError, TypeError) as e:
    _fail('bad gin configuration: ' + ' '.join(str(e).split('\n')[:3]))
  try:
    gin.query_parameter('train_classifier.dataset')
  except ValueError:
    _fail('no data set configured: bind train_classifier.dataset in a gin '
          'file or pass --dataset.')

  try:
    metrics = configurables.train_classifier(model_dir=FLAGS.model_dir,
                                             verbose=True)
  except (ValueError, TypeError) as e:
    # Argument checks run before any training, so these are configuration
    # (or data cache) problems: one line, no traceback.
    _fail(_first_line(e))
  except (FileNotFoundError, FloatingPointError) as e:
    _fail(_first_line(e), status=1)
  atomic.atomic_write_text(
      os.path.join(FLAGS.model_dir, 'operative_config.gin'),
      gin.operative_config_str())
  print(f'{_PROG}: done: test accuracy {metrics["test_accuracy"]:.4f}, '
        f'{metrics["epochs"]} epochs in {metrics["train_seconds"]:.1f} s; '
        f'{FLAGS.model_dir}')


if __name__ == '__main__':
  app.run(main)
