"""Run-time assertions behind the image bijectors' `validate_args=True`.

Each helper returns a list of assertion ops (`tf.debugging`): in eager mode
a failing one raises `tf.errors.InvalidArgumentError` on the spot; in a
`tf.function` the caller puts them in `tf.control_dependencies` of its
outputs (or returns them from `_parameter_control_dependencies`), so they
run before the values they guard are used. Callers only build them when
`validate_args` is set, so the default path has no assertion ops.
"""

import numpy as np
import tensorflow as tf

__all__ = ['assert_finite', 'assert_invertible_log_scale', 'with_dependencies']


def assert_finite(value, message):
  """`[assertion]` that every element of `value` is finite (no NaN, no inf)."""
  return [tf.debugging.assert_equal(
      tf.reduce_all(tf.math.is_finite(value)), True, message=message)]


def assert_invertible_log_scale(log_scale, message):
  """`[assertion]` that `exp(log_scale)` and `exp(-log_scale)` are usable.

  A scale of 0 or infinity makes an affine map non-invertible in floating
  point. `|log_scale| < log(max float)` keeps both `exp(log_scale)` and
  `exp(-log_scale)` finite and non-zero, and fails for NaN and infinities.

  Args:
    log_scale: float `Tensor` (any shape).
    message: Python `str`, the start of the error message.

  Returns:
    A list of one assertion op.
  """
  limit = float(np.log(np.finfo(log_scale.dtype.as_numpy_dtype).max))
  return [tf.debugging.assert_less(
      tf.abs(log_scale), tf.constant(limit, log_scale.dtype),
      message=(f'{message}: must be finite with |value| < {limit:.1f}, so '
               'that exp(value) and exp(-value) are finite and non-zero; '
               'otherwise the bijector is not invertible'))]


def with_dependencies(assertions, *values):
  """`values` (a tuple) passed through `tf.identity` after `assertions`.

  Values that are None are returned as None. With no assertions the values
  are returned as they are, adding no ops.
  """
  if not assertions:
    return values
  with tf.control_dependencies(assertions):
    return tuple(None if v is None else tf.identity(v) for v in values)
