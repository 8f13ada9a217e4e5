"""Tiny models and short training runs, shared by the tests that train.

The tests of the trainer, of resuming, of loading model directories and of
the SIT study (test_training, test_faults, test_loading, test_sit_study)
each need a model that trains in seconds on a busy CPU, and some need its
directory as `bin/train` writes it. They take them from here:

* `tiny_glow`, `tiny_pixelcnn`: the tiny models.
* `operative_config`: the operative config text `bin/train` would write for
  a model, so that `models.load` can rebuild the model from the text and a
  resumed run is compared with it.
* `train_tiny`: `trainer.train` with the short-run defaults
  (`TRAIN_DEFAULTS`: no checkpoints, evaluations, logs, summaries or
  samples unless a test asks for them).
* `first_images`: the first images of a data set's test split.

A plain module, not a conftest: tests/ has no `__init__.py`, so pytest puts
it on `sys.path` and a test file does `import tiny_runs`.
"""

from tfp_flows import data
from tfp_flows.models import Glow
from tfp_flows.models import PixelCNN
from tfp_flows.training import trainer

__all__ = ['TRAIN_DEFAULTS', 'first_images', 'operative_config', 'tiny_glow',
           'tiny_pixelcnn', 'train_tiny']

# `trainer.train` arguments of every tiny run; a test overrides the ones it
# is about.
TRAIN_DEFAULTS = dict(
    num_steps=20, batch_size=16, warmup_steps=2, checkpoint_every=0,
    eval_every=0, num_eval_images=64, log_every=0, summary_every=0,
    sample_every=0, init_batch_size=64, verbose=False)


def tiny_glow(**changes):
  """A Glow of 2 levels, 1 step each, 8 hidden channels.

  Args:
    **changes: constructor arguments to change or add, e.g.
      `hidden_channels=16`.
  """
  return Glow(**{**dict(num_levels=2, num_steps_per_level=1,
                        hidden_channels=8), **changes})


def tiny_pixelcnn(dropout_p=0.):
  """A PixelCNN of 1 resnet block, 1 hierarchy, 8 filters, 2 logistics.

  Args:
    dropout_p: Python `float`. The default 0 (no dropout) makes the network
      a function of its input: e.g. replicas and a single device compute
      the same one. 0.5 is the model's own default.
  """
  return PixelCNN(num_resnet=1, num_hierarchies=1, num_filters=8,
                  num_logistic_mix=2, dropout_p=dropout_p)


def _gin_value(value):
  """`value` as gin prints it in an operative config (sequences as tuples)."""
  if isinstance(value, (list, tuple)):  # Also tf.Module's ListWrapper.
    value = tuple(value)
  return repr(value)


def operative_config(model, dataset, **train_bindings):
  """The operative config text `bin/train` would write for a run of `model`.

  One binding a line, as gin prints them: the model's constructor arguments
  (`model.config`: what `models.load` rebuilds it from, see
  `tfp_flows.models.loading.model_spec`), then `train.dataset`,
  `train.model_fn` and `train_bindings`, each sorted by name. Unlike
  bin/train's it leaves out train's other arguments and the model's
  unrecorded ones (name, conv implementation), and has no comments.

  Args:
    model: a `Glow` or `PixelCNN` (any model with a `config` dict).
    dataset: Python `str`, bound as `train.dataset`.
    **train_bindings: more `train` arguments, e.g. `num_steps=10`.

  Returns:
    Python `str`.
  """
  name = type(model).__name__
  lines = [f'{name}.{arg} = {_gin_value(value)}'
           for arg, value in sorted(model.config.items())]
  train = {arg: _gin_value(value) for arg, value in train_bindings.items()}
  train.update(dataset=_gin_value(dataset), model_fn='@' + name)
  lines += [f'train.{arg} = {value}' for arg, value in sorted(train.items())]
  return '\n'.join(lines) + '\n'


def train_tiny(model_dir, model_fn=tiny_glow, **overrides):
  """`trainer.train` of `model_fn` in `model_dir` (a `str` or path).

  Args:
    model_dir: the run's directory.
    model_fn: builds the model; default `tiny_glow`.
    **overrides: `trainer.train` arguments replacing or adding to
      `TRAIN_DEFAULTS`.

  Returns:
    The result `dict` of `trainer.train`.
  """
  return trainer.train(str(model_dir), model_fn,
                       **{**TRAIN_DEFAULTS, **overrides})


def first_images(n=64, dataset='fashion_mnist'):
  """The first `n` images (uint8) of `dataset`'s test split."""
  return data.load(dataset, 'test')[0][:n]
