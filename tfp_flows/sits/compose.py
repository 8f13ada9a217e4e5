"""Composition of SITs, applied in order."""

import numpy as np

from tfp_flows.sits import base

__all__ = ['Compose', 'member_seed']


def member_seed(seed, position):
  """The seed the `position`-th member of a `Compose` gets from the call's seed.

  Derived with `np.random.SeedSequence([seed, position])` (its first 32-bit
  word), so members draw independent noise and the result depends only on
  `(seed, position)`, not on the numpy version's default generator.

  Args:
    seed: non-negative Python int, the seed passed to the `Compose`.
    position: non-negative Python int, the member's index.

  Returns:
    Non-negative Python int < 2**32.
  """
  seed = base.check_seed(seed)
  position = base.check_int(position, 'position', minimum=0)
  return int(np.random.SeedSequence([seed, position]).generate_state(1)[0])


class Compose(base.SIT):
  """Applies SITs one after another: `sits[-1](...(sits[0](x)))`.

  Every member but the last must be `'discrete'` (its uint8 output is the
  next member's input); the composition has the last member's kind. Member
  `j` is called with `seed=member_seed(seed, j)` and the same `indices`,
  `model` and `batch_size`.

  #### Examples

  ```python
  sit = Compose([Translate(-1), DiscreteNoise(k=2)])
  sit.name   # 'translate_dx-1_dy0_zeros+discrete_noise_k2_all'
  ```
  """

  def __init__(self, sits):
    """Builds the composition.

    Args:
      sits: non-empty list (or tuple) of `SIT`s, in order of application.

    Raises:
      TypeError: `sits` is not a list of `SIT`s.
      ValueError: `sits` is empty, or a member other than the last is not
        `'discrete'`.
    """
    if isinstance(sits, base.SIT) or not isinstance(sits, (list, tuple)):
      raise TypeError(f'`sits` must be a list of SITs; got '
                      f'{type(sits).__name__}.')
    if not sits:
      raise ValueError('`sits` must hold at least one SIT; got an empty list.')
    for j, sit in enumerate(sits):
      if not isinstance(sit, base.SIT):
        raise TypeError(f'`sits[{j}]` must be a SIT; got '
                        f'{type(sit).__name__}.')
    for j, sit in enumerate(sits[:-1]):
      if sit.kind != 'discrete':
        raise ValueError(
            f'`sits[{j}]` ({sit.name}) is {sit.kind!r}, but every SIT of '
            '`sits` except the last must be \'discrete\' (its uint8 output '
            'feeds the next).')
    self._sits = tuple(sits)

  @property
  def sits(self):
    """The members, in order of application (a tuple)."""
    return self._sits

  @property
  def name(self):
    return '+'.join(sit.name for sit in self._sits)

  @property
  def kind(self):
    return self._sits[-1].kind

  @property
  def offset(self):
    """The last member's (it makes the output)."""
    return self._sits[-1].offset

  @property
  def needs_flow(self):
    return any(sit.needs_flow for sit in self._sits)

  def applies_to(self, model):
    return all(sit.applies_to(model) for sit in self._sits)

  def config(self):
    return dict(type='Compose', sits=[sit.config() for sit in self._sits])

  def _apply(self, images, seed, indices, model, batch_size):
    out = images
    for j, sit in enumerate(self._sits):
      out = sit(out, seed=member_seed(seed, j), indices=indices, model=model,
                batch_size=batch_size)
    return out

  def __repr__(self):
    return f'Compose([{", ".join(repr(sit) for sit in self._sits)}])'
