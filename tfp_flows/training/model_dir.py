"""Safety of a training run's model directory: what may resume it, and how.

* `compare_configs`: a resumed run's operative config against the saved one;
  only run-length and logging knobs (`RESUMABLE_BINDINGS`) may differ.
"""

import re

__all__ = ['ConfigMismatchError', 'RESUMABLE_BINDINGS', 'compare_configs',
           'parse_bindings']

# `train` parameters a resumed run may change: how long it runs, how often
# it logs, evaluates, samples and saves, and whether it keeps Polyak
# averages (added on resume they start from the restored weights). None of
# them changes the model or the data it is trained on.
RESUMABLE_BINDINGS = frozenset(
    'train.' + name for name in (
        'num_steps', 'max_train_seconds', 'checkpoint_every',
        'keep_checkpoints', 'eval_every', 'log_every', 'summary_every',
        'sample_every', 'num_samples', 'ema_decay'))

_BINDING = re.compile(r'^([A-Za-z_][\w./]*)\s*=(.*)$')


class ConfigMismatchError(ValueError):
  """A model dir is being resumed with a configuration that changes the run."""


def parse_bindings(text):
  """The bindings of a gin config text (e.g. an operative config).

  Comments, blank lines, `import` and `include` lines are skipped; a value
  may continue over indented lines (gin's own formatting of long values).
  Values are compared as text, with whitespace collapsed: two operative
  configs print the same value the same way.

  Args:
    text: Python `str`, gin config.

  Returns:
    `dict` mapping `'[scope/]Configurable.parameter'` to its value's text.
  """
  bindings, name = {}, None
  for line in text.splitlines():
    stripped = line.strip()
    if not stripped or stripped.startswith('#'):
      continue
    match = _BINDING.match(line)
    if match:
      name = match.group(1)
      bindings[name] = match.group(2)
    elif line[0] in ' \t' and name is not None:
      bindings[name] += ' ' + stripped
    elif stripped.startswith(('import ', 'include ')):
      name = None
  return {k: ' '.join(v.replace('\\', ' ').split())
          for k, v in bindings.items()}


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
