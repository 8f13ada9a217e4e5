"""Shared pytest setup for tfp_flows.

* Quiets TensorFlow's C++ logging before TensorFlow is first imported.
* Splits the host CPU into N_LOGICAL_CPUS logical devices before the TF
  runtime initialises, so tests can build a two-replica MirroredStrategy.
* Provides the `assert_all_finite` fixture: every test checks its tensors
  with it (all values finite, and the expected shape when given).
"""

import collections.abc
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

N_LOGICAL_CPUS = 2


def _configure_logical_cpus(n):
  """Splits the first physical CPU into `n` logical devices (once)."""
  cpus = tf.config.list_physical_devices('CPU')
  if not cpus:
    return
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
  except RuntimeError:
    # The runtime was initialised already (e.g. a plugin ran a TF op before
    # this conftest); tests that need n devices report it themselves.
    pass


_configure_logical_cpus(N_LOGICAL_CPUS)


# ------------------------------------------------------------ assert_all_finite


def _flatten_with_paths(nest, path=''):
  """Yields (path, leaf) for a nest of dicts, lists, tuples, namedtuples."""
  if isinstance(nest, collections.abc.Mapping):
    for key in sorted(nest, key=repr):
      yield from _flatten_with_paths(nest[key], f'{path}[{key!r}]')
  elif isinstance(nest, tuple) and hasattr(nest, '_fields'):
    for field in nest._fields:
      yield from _flatten_with_paths(getattr(nest, field), f'{path}.{field}')
  elif isinstance(nest, (list, tuple)):
    for i, item in enumerate(nest):
      yield from _flatten_with_paths(item, f'{path}[{i}]')
  else:
    yield path, nest


def _to_numpy(leaf, where):
  if leaf is None:
    raise AssertionError(f'{where} is None')
  if isinstance(leaf, tf.Tensor) and not tf.executing_eagerly():
    raise AssertionError(f'{where} is a symbolic tensor; check its value '
                         f'outside tf.function')
  try:
    value = leaf.numpy() if hasattr(leaf, 'numpy') else np.asarray(leaf)
  except Exception as e:  # pylint: disable=broad-except
    raise AssertionError(
        f'{where} ({type(leaf).__name__}) cannot be read as an array: '
        f'{e}') from e
  return np.asarray(value)


def _shape_matches(actual, expected):
  if len(actual) != len(expected):
    return False
  return all(e is None or a == e for a, e in zip(actual, expected))


def check_all_finite(nest, shape=None, name='value'):
  """Asserts that every tensor/array in `nest` is finite (and shaped).

  Args:
    nest: a tensor, array, Python number, or a nest (dict, list, tuple,
      namedtuple) of them. tf.Variable, tfp's DeferredTensor and anything
      else with `.numpy()` or `__array__` is accepted.
    shape: optional expected shape (tuple, list or tf.TensorShape) that
      *every* leaf must have; a `None` entry matches any size.
    name: how the nest is called in failure messages.

  Returns:
    `nest`, unchanged, so the call can wrap an expression.

  Raises:
    AssertionError: naming the offending leaf (e.g. `value[1]['loc']`) when
      a leaf is None, not numeric, not finite, or of another shape.
  """
  expected = None
  if shape is not None:
    expected = tuple(tf.TensorShape(shape).as_list())
  leaves = list(_flatten_with_paths(nest))
  if not leaves:
    raise AssertionError(f'{name} holds no tensors to check')
  for path, leaf in leaves:
    where = f'{name}{path}'
    value = _to_numpy(leaf, where)
    if expected is not None and not _shape_matches(value.shape, expected):
      raise AssertionError(
          f'{where} has shape {value.shape}, expected {expected}')
    if value.dtype == np.bool_ or np.issubdtype(value.dtype, np.integer):
      continue
    if not (np.issubdtype(value.dtype, np.floating)
            or np.issubdtype(value.dtype, np.complexfloating)):
      raise AssertionError(f'{where} has non-numeric dtype {value.dtype}')
    bad = ~np.isfinite(value)
    if bad.any():
      first = tuple(int(i) for i in np.argwhere(bad)[0])
      raise AssertionError(
          f'{where} has {int(bad.sum())} non-finite of {value.size} values '
          f'(nan: {int(np.isnan(value).sum())}); first at index {first}: '
          f'{value[first] if first else value}')
  return nest


@pytest.fixture
def assert_all_finite():
  """The `check_all_finite(nest, shape=None, name='value')` helper."""
  return check_all_finite
