"""Rebuilds a trained model from its model directory (for analysis)."""

import inspect
import os

import tensorflow as tf

__all__ = ['load']


def load(model_dir, checkpoint=None, use_ema=True):
  """Rebuilds the model of a `bin/train` run and restores its weights.

  The model is rebuilt from `model_dir/operative_config.gin` (the exact
  configuration the run used), then a checkpoint is restored: the latest in
  `model_dir`, or the one named by `checkpoint` (a path, or a step number).

  Args:
    model_dir: directory written by `bin/train`.
    checkpoint: `None` (the newest, whether or not the `checkpoint` state
      file names it), an `int` step, or a checkpoint path prefix.
    use_ema: if the run kept Polyak averages, load those weights.

  Note: this replaces the process's global gin configuration with the run's
  operative config (that is how the model is rebuilt); parse your own
  bindings again afterwards if you need them.

  Returns:
    The `ImageDensityModel`, weights restored (ActNorm flags included), with
    attributes `checkpoint_path`, `model_dir` and `training_dataset` (the
    run's `train.dataset`).

  Raises:
    FileNotFoundError: no directory, no `operative_config.gin`, or no
      checkpoint.
    ValueError: an unreadable config, a damaged checkpoint (truncated,
      bit-flipped or missing file: the message names it; a newest
      checkpoint that the state file names but is gone counts as damaged),
      or a mismatched one.
  """
  import gin  # pylint: disable=g-import-not-at-top
  from tfp_flows import configurables  # pylint: disable=g-import-not-at-top,unused-import
  from tfp_flows.training import ema as ema_lib  # pylint: disable=g-import-not-at-top
  from tfp_flows.training import model_dir as model_dir_lib  # pylint: disable=g-import-not-at-top
  from tfp_flows.training import trainer  # pylint: disable=g-import-not-at-top

  if not os.path.isdir(model_dir):
    raise FileNotFoundError(f'Model directory {model_dir!r} does not exist.')
  config_path = os.path.join(model_dir, 'operative_config.gin')
  if not os.path.exists(config_path):
    raise FileNotFoundError(
        f'{config_path} is missing: {model_dir!r} is not a model directory '
        'written by bin/train.')
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin.parse_config_file(config_path)
      model_ref = gin.query_parameter('train.model_fn')
    except (ValueError, KeyError) as e:
      raise ValueError(f'Cannot use {config_path}: {e}') from e
    try:
      training_dataset = gin.query_parameter('train.dataset')
    except ValueError:
      training_dataset = inspect.signature(trainer.train).parameters[
          'dataset'].default
  model = model_ref.scoped_configurable_fn()

  if checkpoint is None:
    # The newest one, named by the `checkpoint` state file or on disk; a
    # state file naming a checkpoint that is gone is damage, not absence.
    paths = model_dir_lib.checkpoint_paths(model_dir)
    if not paths:
      raise FileNotFoundError(f'{model_dir!r} has no checkpoint; train it '
                              'first.')
    path = paths[0]
  else:
    if isinstance(checkpoint, int):
      path = os.path.join(model_dir, f'ckpt-{checkpoint}')
    else:
      path = str(checkpoint)
    if not tf.io.gfile.exists(path + '.index'):
      raise FileNotFoundError(f'Checkpoint {path!r} does not exist.')
  damage = model_dir_lib.checkpoint_damage(path)
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
                     f'model of {config_path}: {str(e).splitlines()[0]}') from e
  # `expect_partial` would also hide model weights that nothing in the
  # model took (e.g. a 2-step-per-level checkpoint under a 1-step config).
  unused = _unmatched_weights(status, reader, tuple(f'{name}/'
                                                    for name in objects),
                              model)
  if unused:
    raise ValueError(
        f'Checkpoint {path!r} does not fit the model of {config_path}: '
        f'{len(unused)} of its weights match no variable of the model (e.g. '
        f'{", ".join(unused[:3])}); the config describes a smaller model than '
        'the one trained.')
  if ema is not None:
    for shadow, v in zip(ema.shadows, model.trainable_variables):
      v.assign(shadow)
  model.checkpoint_path = path
  model.model_dir = model_dir
  model.training_dataset = training_dataset
  return model


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
