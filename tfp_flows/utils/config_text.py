"""The bindings of a gin config text, read without gin.

Comparing a resumed run's configuration with the saved one, and rebuilding
a trained model from its `operative_config.gin`, must not touch the
process's global gin state: this reads the text only.
"""

import ast
import re

__all__ = ['literal_bindings', 'literal_value', 'parse_bindings']

_BINDING = re.compile(r'^([A-Za-z_][\w./]*)\s*=(.*)$')


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


def literal_value(name, value):
  """The Python literal a binding's value text spells.

  Args:
    name: Python `str`, the binding's name (for the error).
    value: Python `str`, its value text as `parse_bindings` returns it.

  Raises:
    ValueError: the text is no Python literal (e.g. a reference `@Glow` or
      a macro), naming the binding.
  """
  try:
    return ast.literal_eval(value)
  except (ValueError, SyntaxError):
    raise ValueError(f'{name} = {value} is not a Python literal (a gin '
                     'reference or macro cannot be read without gin)'
                     ) from None


def literal_bindings(text):
  """The bindings of a gin config text, values read as Python literals.

  Args:
    text: Python `str`, gin config.

  Returns:
    `dict` mapping `'[scope/]Configurable.parameter'` to its value: the
    Python literal (number, string, tuple, ...) where the text is one, else
    the text itself (references such as `@Glow`, macros).
  """
  out = {}
  for name, value in parse_bindings(text).items():
    try:
      out[name] = literal_value(name, value)
    except ValueError:
      out[name] = value
  return out
