"""Tests for tfp_flows.utils.validation.positive_int."""

import fractions

import numpy as np
import pytest

from tfp_flows.utils import positive_int


@pytest.mark.parametrize('value, expected', [
    (1, 1),
    (64, 64),
    (np.int64(3), 3),
    (np.uint8(255), 255),
    (2.0, 2),
    (np.float32(8.0), 8),
    (fractions.Fraction(6, 2), 3),
    (10**20, 10**20),
])
def test_accepts_positive_integers(value, expected):
  result = positive_int(value, 'n')
  assert result == expected
  assert type(result) is int  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize('value', [0, -1, np.int32(-4), 1.5, 0.0, -2.0,
                                   float('nan'), float('inf'), 0.999])
def test_rejects_non_positive_or_non_integral_numbers(value):
  with pytest.raises(ValueError) as info:
    positive_int(value, 'batch_size')
  assert str(info.value) == (
      f'`batch_size` must be a positive integer; got {value!r}.')


@pytest.mark.parametrize('value, type_name', [
    (True, 'bool'),
    (False, 'bool'),
    (np.True_, 'bool'),
    ('3', 'str'),
    (None, 'NoneType'),
    ([2], 'list'),
    (np.array([2]), 'ndarray'),
    (1 + 0j, 'complex'),
])
def test_rejects_non_numbers_and_bools_with_type_error(value, type_name):
  with pytest.raises(TypeError) as info:
    positive_int(value, 'num_steps')
  message = str(info.value)
  assert message.startswith('`num_steps` must be a positive integer; got ')
  assert f'{type_name} {value!r}' in message
