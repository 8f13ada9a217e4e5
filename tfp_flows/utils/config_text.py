"""The bindings of a gin config text, read without gin.

Comparing a resumed run's configuration with the saved one, and rebuilding
a trained model from its `operative_config.gin`, must not touch the
process's global gin state: this reads the text only.
"""

import re

__all__ = ['parse_bindings']

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
