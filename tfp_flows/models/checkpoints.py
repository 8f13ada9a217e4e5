"""The checkpoints of a model directory: which exist, and which are intact.

Read by loading (`loading.load`) and by the trainer when it resumes; both
must agree on what "the newest checkpoint" is, whether or not the
`checkpoint` state file names it (a run copied without that file still has
its checkpoints).
"""

import glob
import os
import re

import tensorflow as tf

__all__ = ['checkpoint_damage', 'checkpoint_paths']

_CKPT_INDEX = re.compile(r'^(.*-(\d+))\.index$')


def _step_of(path):
  match = re.search(r'-(\d+)$', path)
  return int(match.group(1)) if match else -1


def checkpoint_paths(directory, prefix='ckpt'):
  """Every checkpoint of `directory`, newest (highest step) first.

  The union of the ones the `checkpoint` state file names (which may be
  missing from disk) and the `<prefix>-<step>.index` files on disk (which
  the state file may not name, e.g. after copying a run without it).

  Args:
    directory: Python `str`, a model directory.
    prefix: checkpoint file prefix (`tf.train.CheckpointManager`'s).

  Returns:
    `list` of checkpoint path prefixes (`.../ckpt-N`).
  """
  paths = set()
  for index in glob.glob(os.path.join(glob.escape(directory),
                                      f'{prefix}-*.index')):
    match = _CKPT_INDEX.match(index)
    if match:
      paths.add(os.path.normpath(match.group(1)))
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, ValueError):
    state = None  # An unreadable state file: the files on disk still count.
  if state is not None:
    # TF has already joined relative entries with `directory`.
    for path in list(state.all_model_checkpoint_paths) + [
        state.model_checkpoint_path]:
      if path:
        paths.add(os.path.normpath(path))
  return sorted(paths, key=lambda p: (_step_of(p), p), reverse=True)


def checkpoint_damage(path):
  """Why the checkpoint `path` cannot be restored, or None if it is intact.

  Reads every tensor, so each is checked against the checksum its `.index`
  stores: a truncated, bit-flipped or missing file is found before any of
  it is restored.

  Args:
    path: Python `str`, checkpoint path prefix (`.../ckpt-N`).

  Returns:
    Python `str` naming the damaged file and the damage, or `None`.
  """
  index = path + '.index'
  if not os.path.exists(index):
    return f'{index} is missing'
  try:
    reader = tf.train.load_checkpoint(path)
  except Exception as e:  # pylint: disable=broad-except
    return f'{index} is unreadable ({_first_line(e)})'
  data_files = sorted(glob.glob(glob.escape(path) + '.data-*'))
  try:
    for key in reader.get_variable_to_shape_map():
      reader.get_tensor(key)
  except Exception as e:  # pylint: disable=broad-except
    # IndexError ("Read less bytes than requested") for a truncated data
    # file, DataLossError for a checksum mismatch, NotFoundError if absent.
    if not data_files:
      return f'{path}.data-00000-of-00001 is missing'
    return (f'{", ".join(data_files)} is damaged ({type(e).__name__}: '
            f'{_first_line(e)})')
  return None


def _first_line(error):
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__


# ---------------------------------------------------------------------- lock
