"""Rebuilds a trained model from its model directory, without gin.

A model directory written by `bin/train` holds `model.json` (the model's
class and constructor arguments, `model.config`, and its training set),
`operative_config.gin` and checkpoints. The model is rebuilt from
`model.json`; directories written before it existed are rebuilt from the
literal bindings of `operative_config.gin`, read as text. Neither touches
the process's global gin configuration.
"""

import json
import os

import tensorflow as tf

from tfp_flows.models import checkpoints
from tfp_flows.models import ema as ema_lib
from tfp_flows.models import glow
from tfp_flows.models import pixelcnn
from tfp_flows.utils import atomic
from tfp_flows.utils import config_text

__all__ = ['MODEL_CLASSES', 'MODEL_JSON', 'ModelSpec', 'load', 'model_spec',
           'TRAINING_DEFAULTS', 'write_model_json']

MODEL_JSON = 'model.json'
# The classes a model directory may name; a new model class is added here.
MODEL_CLASSES = {'Glow': glow.Glow, 'PixelCNN': pixelcnn.PixelCNN}
# `train`'s options recorded in a spec, with the values that mean "an
# ordinary maximum-likelihood model" (files without them have these).
TRAINING_DEFAULTS = {'mutation_rate': 0., 'l2_weight': 0.}


class ModelSpec:
  """What rebuilds a trained model: class name, arguments, training set.

  Attributes:
    class_name: Python `str`, a key of `MODEL_CLASSES`.
    config: `dict` of constructor keyword arguments (JSON values).
    training_dataset: Python `str`, the data set it was trained on.
    source: Python `str`, the file it was read from (`None` if built in
      memory); errors about the model name it.
    training: `dict` of the training options that change what the model
      learned beyond its data set: `mutation_rate` and `l2_weight` (both
      0. for an ordinary model; > 0 marks a likelihood-ratio background
      model).
  """

  def __init__(self, class_name, config, training_dataset, source=None,
               training=None):
    if class_name not in MODEL_CLASSES:
      raise ValueError(f'Unknown model class {class_name!r}; known: '
                       f'{", ".join(sorted(MODEL_CLASSES))}.')
    self.class_name = class_name
    self.config = dict(config)
    self.training_dataset = training_dataset
    self.source = source
    self.training = dict(TRAINING_DEFAULTS, **(training or {}))
    unknown = set(self.training) - set(TRAINING_DEFAULTS)
    if unknown:
      raise ValueError(f'Unknown training options {sorted(unknown)}; known: '
                       f'{sorted(TRAINING_DEFAULTS)}.')

  def build(self):
    """A freshly initialised model of this spec."""
    return MODEL_CLASSES[self.class_name](**self.config)

  def to_json(self):
    return json.dumps(dict(model=self.class_name, config=self.config,
                           training_dataset=self.training_dataset,
                           training=self.training),
                      indent=2, sort_keys=True) + '\n'


def write_model_json(model_dir, model, training_dataset, training=None):
  """Writes `model_dir/model.json` for `model` (atomically).

  Args:
    model_dir: Python `str`, an existing directory.
    model: a model of one of `MODEL_CLASSES`, with its `config`.
    training_dataset: Python `str`.
    training: optional `dict` of `TRAINING_DEFAULTS` keys (see `ModelSpec`).

  Returns:
    The path written.
  """
  spec = ModelSpec(type(model).__name__, model.config, training_dataset,
                   training=training)
  path = os.path.join(model_dir, MODEL_JSON)
  atomic.atomic_write_text(path, spec.to_json())
  return path


def model_spec(model_dir):
  """The `ModelSpec` of a model directory (`model.json`, else its gin text).

  Raises:
    FileNotFoundError: neither file exists.
    ValueError: the file cannot be read as a model spec; the message names
      the file and the problem.
  """
  json_path = os.path.join(model_dir, MODEL_JSON)
  if os.path.exists(json_path):
    try:
      with open(json_path) as f:
        raw = json.load(f)
      return ModelSpec(raw['model'], raw['config'], raw['training_dataset'],
                       source=json_path, training=raw.get('training'))
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ValueError(f'Cannot use {json_path}: {e}') from e
  config_path = os.path.join(model_dir, 'operative_config.gin')
  if not os.path.exists(config_path):
    raise FileNotFoundError(
        f'{model_dir!r} has neither {MODEL_JSON} nor operative_config.gin: '
        'it is not a model directory written by bin/train.')
  with open(config_path) as f:
    bindings = config_text.parse_bindings(f.read())
  try:
    reference = bindings['train.model_fn']
    class_name = reference.lstrip('@').rstrip('()')
    if not reference.startswith('@') or class_name not in MODEL_CLASSES:
      raise ValueError(f'train.model_fn = {reference} names no model class '
                       f'({", ".join(sorted(MODEL_CLASSES))})')
    config = {name.split('.', 1)[1]: config_text.literal_value(name, value)
              for name, value in bindings.items()
              if name.startswith(class_name + '.')}
    # bin/train's operative config binds every train() argument, defaults
    # included, so a missing data set means the file is not one of its.
    training_dataset = config_text.literal_value(
        'train.dataset', bindings['train.dataset'])
    training = {name: config_text.literal_value(f'train.{name}',
                                                bindings[f'train.{name}'])
                for name in TRAINING_DEFAULTS if f'train.{name}' in bindings}
    return ModelSpec(class_name, config, training_dataset, source=config_path,
                     training=training)
  except KeyError as e:
    raise ValueError(f'Cannot use {config_path}: it binds no {e}.') from e
  except ValueError as e:
    raise ValueError(f'Cannot use {config_path}: {e}.') from e


def load(model_dir, checkpoint=None, use_ema=True):
  """Rebuilds the model of a `bin/train` run and restores its weights.

  The model is rebuilt from `model_spec(model_dir)`, then a checkpoint is
  restored: the newest in `model_dir`, or the one named by `checkpoint` (a
  path, or a step number). Global gin state is neither read nor changed.

  Args:
    model_dir: directory written by `bin/train`.
    checkpoint: `None` (the newest, whether or not the `checkpoint` state
      file names it), an `int` step, or a checkpoint path prefix.
    use_ema: if the run kept Polyak averages, load those weights.

  Returns:
    The `ImageDensityModel`, weights restored (ActNorm flags included), with
    attributes `checkpoint_path`, `model_dir`, `training_dataset` and
    `training_options` (`ModelSpec.training`).

  Raises:
    FileNotFoundError: no directory, no model spec, or no checkpoint.
    ValueError: an unreadable spec, a damaged checkpoint (truncated,
      bit-flipped or missing file: the message names it; a newest
      checkpoint that the state file names but is gone counts as damaged),
      or a mismatched one.
  """
  if not os.path.isdir(model_dir):
    raise FileNotFoundError(f'Model directory {model_dir!r} does not exist.')
  spec = model_spec(model_dir)
  described_by = spec.source
  try:
    model = spec.build()
  except (TypeError, ValueError) as e:
    raise ValueError(f'Cannot build the model of {described_by}: '
                     f'{str(e).splitlines()[0]}') from e
  path = _checkpoint_path(model_dir, checkpoint)
  damage = checkpoints.checkpoint_damage(path)
  if damage is not None:
    raise ValueError(f'Checkpoint {path!r} is damaged: {damage}. Load an '
                     'earlier one with `checkpoint=STEP`.')

  try:
    reader = tf.train.load_checkpoint(path)
    has_ema = any(k.startswith('ema/') for k in
                  reader.get_variable_to_shape_map())
    ema = (ema_lib.ExponentialMovingAverage(model.trainable_variables, 0.5)
           if use_ema and has_ema else None)
    objects = dict(model=model, **({'ema': ema} if ema else {}))
    status = tf.train.Checkpoint(**objects).read(path)
    status.expect_partial()  # The optimizer (and its slots) are not loaded.
    status.assert_existing_objects_matched()
  except (tf.errors.OpError, AssertionError, ValueError) as e:
    raise ValueError(f'Checkpoint {path!r} could not be restored into the '
                     f'model of {described_by}: '
                     f'{str(e).splitlines()[0]}') from e
  # `expect_partial` would also hide model weights that nothing in the
  # model took (e.g. a 2-step-per-level checkpoint under a 1-step config).
  unused = _unmatched_weights(status, reader, tuple(f'{name}/'
                                                    for name in objects),
                              model)
  if unused:
    raise ValueError(
        f'Checkpoint {path!r} does not fit the model of {described_by}: '
        f'{len(unused)} of its weights match no variable of the model (e.g. '
        f'{", ".join(unused[:3])}); the config describes a smaller model than '
        'the one trained.')
  if ema is not None:
    for shadow, v in zip(ema.shadows, model.trainable_variables):
      v.assign(shadow)
  model.checkpoint_path = path
  model.model_dir = model_dir
  model.training_dataset = spec.training_dataset
  model.training_options = dict(spec.training)
  return model


def _checkpoint_path(model_dir, checkpoint):
  """The checkpoint prefix `load` restores (see its `checkpoint` argument)."""
  if checkpoint is None:
    # The newest one, named by the `checkpoint` state file or on disk; a
    # state file naming a checkpoint that is gone is damage, not absence.
    paths = checkpoints.checkpoint_paths(model_dir)
    if not paths:
      raise FileNotFoundError(f'{model_dir!r} has no checkpoint; train it '
                              'first.')
    return paths[0]
  if isinstance(checkpoint, int):
    path = os.path.join(model_dir, f'ckpt-{checkpoint}')
  else:
    path = str(checkpoint)
  if not tf.io.gfile.exists(path + '.index'):
    raise FileNotFoundError(f'Checkpoint {path!r} does not exist.')
  return path


def _unmatched_weights(status, reader, prefixes, model):
  """Checkpoint keys under `prefixes` that no restored object took.

  Optimizer slots (`.OPTIMIZER_SLOT`) are ignored: they are not loaded.

  Args:
    status: the load status of `tf.train.Checkpoint.read`.
    reader: `tf.train.load_checkpoint` of the same checkpoint.
    prefixes: `tuple` of key prefixes, e.g. `('model/', 'ema/')`.
    model: the restored model (for the fallback count).

  Returns:
    Sorted `list` of checkpoint keys (empty if everything matched).
  """
  def wanted(key):
    return (key.startswith(prefixes) and '.OPTIMIZER_SLOT' not in key
            and key.endswith('.ATTRIBUTES/VARIABLE_VALUE'))
  coordinator = getattr(status, '_checkpoint', None)
  graph = getattr(coordinator, 'object_graph_proto', None)
  by_id = getattr(coordinator, 'object_by_proto_id', None)
  if graph is not None and by_id is not None:
    return sorted(attribute.checkpoint_key
                  for node_id, node in enumerate(graph.nodes)
                  for attribute in node.attributes
                  if wanted(attribute.checkpoint_key)
                  and by_id.get(node_id) is None)
  # Without TF's restore bookkeeping (a private API): compare counts.
  keys = sorted(k for k in reader.get_variable_to_shape_map()
                if wanted(k) and k.startswith('model/'))
  return keys if len(keys) > len(model.variables) else []
