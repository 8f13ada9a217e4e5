"""The one positive-integer check used across tfp_flows.

Counts (batch sizes, steps, channels, examples) reach the library from Python
code, numpy and gin configs. Checking them in one place makes every package
accept the same values and word its errors the same way, and keeps a bool
(an `int` subclass) from passing as a count.
"""

import math
import numbers

__all__ = ['positive_int']


def positive_int(value, name):
  """Returns `value` as a Python `int` if it is an integer >= 1.

  Accepted: Python and numpy integers >= 1, and real numbers whose value is
  an integer >= 1 (e.g. `64.0`, as arithmetic or a config may produce), all
  returned as a Python `int`.

  Args:
    value: the value to check.
    name: the argument's name, quoted in the error message.

  Returns:
    Python `int` >= 1.

  Raises:
    TypeError: `value` is a bool (`True` would otherwise count as 1) or
      not a real number (e.g. a str or None); the message names `name`,
      the type and the value.
    ValueError: `value` is a real number but not an integer >= 1 (`0`,
      `-2`, `1.5`, nan, inf); the message names `name` and the value.
  """
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise TypeError(f'`{name}` must be a positive integer; got '
                    f'{type(value).__name__} {value!r}.')
  integral = isinstance(value, numbers.Integral) or (
      math.isfinite(value) and float(value).is_integer())
  if not integral or value < 1:
    raise ValueError(f'`{name}` must be a positive integer; got {value!r}.')
  return int(value)
