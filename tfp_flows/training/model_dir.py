"""Safety of a training run's model directory: what may resume it, and how.

* `compare_configs`: a resumed run's operative config against the saved one;
  only run-length and logging knobs (`RESUMABLE_BINDINGS`) may differ.
* `ModelDirLock`: one trainer per model dir at a time.
"""

import datetime
import fcntl
import os
import socket
import sys

from tfp_flows.utils.config_text import parse_bindings

__all__ = ['ConfigMismatchError', 'LOCK_FILE', 'ModelDirLock',
           'ModelDirLockedError', 'NoIntactCheckpointError',
           'RESUMABLE_BINDINGS', 'compare_configs']

LOCK_FILE = '.train.lock'

# `train` parameters a resumed run may change: how long it runs, how often
# it logs, evaluates, samples and saves, and whether it keeps Polyak
# averages (added on resume they start from the restored weights). None of
# them changes the model or the data it is trained on.
RESUMABLE_BINDINGS = frozenset(
    'train.' + name for name in (
        'num_steps', 'max_train_seconds', 'checkpoint_every',
        'keep_checkpoints', 'eval_every', 'log_every', 'summary_every',
        'sample_every', 'num_samples', 'ema_decay'))


class ConfigMismatchError(ValueError):
  """A model dir is being resumed with a configuration that changes the run."""


class NoIntactCheckpointError(ValueError):
  """A model dir holds checkpoints, but none of them can be read."""


class ModelDirLockedError(RuntimeError):
  """Another live process is training in the same model dir."""


def compare_configs(saved_text, new_text, saved_path='the saved config'):
  """Checks that a resumed run keeps the configuration of its model dir.

  Args:
    saved_text: Python `str`, the model dir's `operative_config.gin`.
    new_text: Python `str`, the operative config of the resuming run.
    saved_path: how the saved config is named in the error.

  Returns:
    `list` of Python `str`: the allowed differences (`RESUMABLE_BINDINGS`,
    and bindings present in only one config, e.g. a parameter added to the
    code since), one `'name: old -> new'` each, for the log.

  Raises:
    ConfigMismatchError: any other binding differs; one line listing them.
  """
  saved, new = parse_bindings(saved_text), parse_bindings(new_text)
  allowed, refused = [], []
  for name in sorted(set(saved) | set(new)):
    old_value = saved.get(name, '(absent)')
    new_value = new.get(name, '(absent)')
    if old_value == new_value:
      continue
    change = f'{name}: {old_value} -> {new_value}'
    if name in RESUMABLE_BINDINGS or name not in saved or name not in new:
      allowed.append(change)
    else:
      refused.append(change)
  if refused:
    raise ConfigMismatchError(
        f'refusing to resume: the configuration differs from {saved_path} '
        f'in {"; ".join(refused)} (only {", ".join(sorted(RESUMABLE_BINDINGS))}'
        ' may change; use a new model dir for another configuration).')
  return allowed


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # Alive, owned by someone else.
  return True


def _parse_holder(text):
  """`{'pid': int, 'host': str, ...}` from a lock file's text (or {})."""
  holder = {}
  for field in text.split():
    key, _, value = field.partition('=')
    if value:
      holder[key] = value
  try:
    holder['pid'] = int(holder['pid'])
  except (KeyError, ValueError):
    holder.pop('pid', None)
  return holder


def _describe(holder):
  if 'pid' not in holder:
    return 'an unknown process'
  return (f'process {holder["pid"]} on {holder.get("host", "?")} '
          f'(since {holder.get("since", "?")})')


class ModelDirLock:
  """An exclusive lock on a model dir, held by one trainer for its run.

  `DIR/.train.lock` is locked with `fcntl.flock` and holds the holder's
  pid, host and start time. The kernel releases a flock when its process
  dies, however it dies (SIGKILL included), so a lock file left by a dead
  process is free and is taken over; its old holder is reported. On file
  systems without flock (some network mounts) the recorded pid is checked
  instead, on the same host.

  Use as a context manager, or `acquire()` / `release()`.
  """

  def __init__(self, directory):
    """Args: directory: Python `str`, an existing model directory."""
    self.path = os.path.join(directory, LOCK_FILE)
    self._fd = None

  def acquire(self):
    """Takes the lock.

    Returns:
      `None`, or Python `str` describing the dead process whose lock was
      taken over (for the log).

    Raises:
      ModelDirLockedError: another live process holds it; the message names
        that process.
    """
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      previous = _parse_holder(os.pread(fd, 4096, 0).decode('utf-8',
                                                            'replace'))
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        previous = _parse_holder(os.pread(fd, 4096, 0).decode('utf-8',
                                                              'replace'))
        raise ModelDirLockedError(
            f'{os.path.dirname(self.path)} is in use by another trainer, '
            f'{_describe(previous)}; wait for it to finish or stop it '
            f'(lock file {self.path}).') from None
      except OSError:
        # No flock here: fall back on the recorded pid.
        if (previous.get('host') == socket.gethostname()
            and previous.get('pid') not in (None, os.getpid())
            and _pid_alive(previous['pid'])):
          raise ModelDirLockedError(
              f'{os.path.dirname(self.path)} is in use by another trainer, '
              f'{_describe(previous)} (lock file {self.path}).') from None
      since = datetime.datetime.now().isoformat(timespec='seconds')
      text = (f'pid={os.getpid()} host={socket.gethostname()} since={since} '
              f'argv0={os.path.basename(sys.argv[0] or "python")}\n')
      os.ftruncate(fd, 0)
      os.pwrite(fd, text.encode('utf-8'), 0)
    except BaseException:
      os.close(fd)
      raise
    self._fd = fd
    if previous:
      return (f'{_describe(previous)} left a lock on '
              f'{os.path.dirname(self.path)} and is gone; took it over')
    return None

  def release(self):
    """Releases the lock (empties the file: no holder). Idempotent."""
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)
      fcntl.flock(self._fd, fcntl.LOCK_UN)
    finally:
      os.close(self._fd)
      self._fd = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()
    return False
