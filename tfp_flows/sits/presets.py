"""Ready-made SIT lists (the paper's settings); SITs from names or configs."""

import re

from tfp_flows.sits import base
from tfp_flows.sits.compose import Compose
from tfp_flows.sits.noise import ContinuousNoise
from tfp_flows.sits.noise import DiscreteNoise
from tfp_flows.sits.translate import Translate
from tfp_flows.sits.zero_latents import ZeroLatents

__all__ = ['PRESETS', 'default_sits', 'from_config', 'get', 'paper_presets',
           'preset', 'sits_for_model']

_CLASSES = {cls.__name__: cls for cls in
            (ContinuousNoise, DiscreteNoise, Translate, ZeroLatents)}

# One pattern per SIT class, matching exactly the names its `name` produces.
_NUMBER = r'([0-9.eE+-]+)'
_NAME_PATTERNS = (
    (re.compile(r'translate_dx(-?\d+)_dy(-?\d+)_(zeros|wrap|edge)'),
     lambda m: Translate(int(m[1]), int(m[2]), m[3])),
    (re.compile(r'noise_(normal|normal_shifted|uniform_negative)_eps'
                + _NUMBER + r'_(all|background)_(edge|centre)'),
     lambda m: ContinuousNoise(float(m[2]), m[1], m[3], m[4])),
    (re.compile(r'discrete_noise_k(\d+)_(all|background)'),
     lambda m: DiscreteNoise(int(m[1]), m[2])),
    (re.compile(r'zero_latents_k(\d+)_(continuous|quantised)'),
     lambda m: ZeroLatents(int(m[1]), m[2])),
)


def _paper_noise(placement):
  """The paper's six continuous noises at one placement (eps = 0.001)."""
  return [ContinuousNoise(0.001, distribution, mask, placement)
          for distribution in ('normal', 'normal_shifted', 'uniform_negative')
          for mask in ('all', 'background')]


def paper_presets():
  """The SITs of Wang & Yiu (2019), with the paper's settings.

  Returns:
    List of 12 SITs:
    * translations by 1 and 2 pixels to the left, zero fill (Figs. 1, 2);
    * continuous noise `eps * n`, eps = 0.001, n one of N(0, 1),
      1/256 + N(0, 1), U[-1/256, 0], on all pixels and on the background
      only, added at the lower edge of each pixel's bin, `x / 256`, where
      the paper's images sit (Fig. 3);
    * zeroing the first k = 1 and k = 2 latent factors of a multi-scale
      Glow (Algorithm 1, Figs. 4, 5), each as a continuous and as a
      quantised image. k = 2 needs a Glow with at least 3 levels;
      `sits_for_model` skips it for shallower ones.
  """
  return ([Translate(-1, 0, 'zeros'), Translate(-2, 0, 'zeros')]
          + _paper_noise('edge')
          + [ZeroLatents(k, output) for k in (1, 2)
             for output in ('continuous', 'quantised')])


def default_sits():
  """`paper_presets()` plus our variants beside them: 23 SITs.

  * the paper's six noises at the bin centre `(x + 0.5) / 256`, so a
    report shows how much the noise result depends on the placement;
  * discrete noise of 1, 2, 4, 8 grey levels on all pixels and of 4 on the
    background only (integer images, scored by the discrete likelihood).
  """
  return (paper_presets() + _paper_noise('centre')
          + [DiscreteNoise(k, 'all') for k in (1, 2, 4, 8)]
          + [DiscreteNoise(4, 'background')])


# The preset SIT lists by name (`--sits=paper`, `analyze_sits.sits = 'paper'`).
PRESETS = {'paper': paper_presets, 'default': default_sits}


def preset(name):
  """A fresh list of the SITs of the preset `name` (one of `PRESETS`).

  Raises:
    ValueError: `name` is not a preset; the message lists them.
  """
  if not isinstance(name, str) or name not in PRESETS:
    raise ValueError(f'`sits` must be a list of SITs or one of '
                     f'{sorted(PRESETS)}; got {name!r}.')
  return PRESETS[name]()


def sits_for_model(sits, model):
  """The SITs of `sits` that `model` supports, in order.

  A SIT is kept when `sit.applies_to(model)`: ZeroLatents (and
  compositions holding one) only for a `Glow` with more levels than `k`.

  Args:
    sits: iterable of `SIT`s.
    model: the density model.

  Returns:
    A new list of `SIT`s.
  """
  sits = list(sits)
  for j, sit in enumerate(sits):
    if not isinstance(sit, base.SIT):
      raise TypeError(f'`sits[{j}]` must be a SIT; got {type(sit).__name__}.')
  return [sit for sit in sits if sit.applies_to(model)]


def from_config(config):
  """Rebuilds a SIT from its `config()` dict.

  Args:
    config: `dict` with `'type'` (a SIT class name or `'Compose'`) and the
      constructor's arguments (for `'Compose'`: `'sits'`, a list of configs).

  Returns:
    A `SIT` equal in name and parameters to the one `config` came from.
  """
  if not isinstance(config, dict):
    raise TypeError(f'`config` must be a dict; got {type(config).__name__}.')
  params = dict(config)
  kind = params.pop('type', None)
  if kind == 'Compose':
    return Compose([from_config(c) for c in params.get('sits', [])])
  if kind not in _CLASSES:
    raise ValueError(f'`config` has unknown \'type\' {kind!r}; expected one '
                     f'of {sorted(_CLASSES) + ["Compose"]}.')
  return _CLASSES[kind](**params)


def get(name):
  """Builds the SIT called `name` (the inverse of `SIT.name`).

  Compositions are names joined with `'+'`.

  Args:
    name: Python `str`, e.g. `'translate_dx-1_dy0_zeros'` or
      `'discrete_noise_k2_all+noise_normal_eps0.001_all'`.

  Returns:
    A `SIT` whose `name` is `name`.

  Raises:
    ValueError: `name` is not the name of any SIT.
  """
  if not isinstance(name, str):
    raise TypeError(f'`name` must be a str; got {type(name).__name__}.')
  parts = name.split('+')
  sits = []
  for part in parts:
    for pattern, build in _NAME_PATTERNS:
      match = pattern.fullmatch(part)
      if match:
        try:
          sits.append(build(match))
        except ValueError as e:
          raise ValueError(f'`name` {name!r} has invalid parameters: '
                           f'{e}') from e
        break
    else:
      raise ValueError(f'`name` {part!r} is not the name of a SIT.')
  sit = sits[0] if len(sits) == 1 else Compose(sits)
  # Parsing is lenient about number formats ('eps1e-3'); names are not.
  if sit.name != name:
    raise ValueError(f'`name` {name!r} is not canonical; did you mean '
                     f'{sit.name!r}?')
  return sit
