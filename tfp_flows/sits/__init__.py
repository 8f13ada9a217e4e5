"""Semantic-invariant transformations (SITs) of images, after Wang & Yiu (2019).

A SIT changes an image without changing what it shows (a 1-pixel shift, noise
below a grey level, zeroing a flow's finest latents), to measure how much a
flow's likelihood moves for reasons unrelated to semantics.

Every SIT maps uint8 images `[N, H, W, C]` to images of the same shape:
uint8 for `kind == 'discrete'` (score with `model.log_prob`) or float32 on
the `[0, 1]` scale for `kind == 'continuous'` (score with
`model.log_density`); see `base` for the continuous convention
`y = (x + 0.5) / 256` and the per-image random streams.

#### Examples

```python
from tfp_flows import sits
for sit in sits.sits_for_model(sits.default_sits(), model):
  out = sit(images, seed=0, model=model)
  change = sits.pixel_change(images, out)
```
"""

from tfp_flows.sits.base import BACKGROUND_THRESHOLD
from tfp_flows.sits.base import background_mask
from tfp_flows.sits.base import CONTINUOUS_OFFSET
from tfp_flows.sits.base import from_continuous
from tfp_flows.sits.base import SIT
from tfp_flows.sits.base import to_continuous
from tfp_flows.sits.compose import Compose
from tfp_flows.sits.compose import member_seed
from tfp_flows.sits.noise import ContinuousNoise
from tfp_flows.sits.noise import DiscreteNoise
from tfp_flows.sits.pixel_change import pixel_change
from tfp_flows.sits.presets import default_sits
from tfp_flows.sits.presets import from_config
from tfp_flows.sits.presets import get
from tfp_flows.sits.presets import paper_presets
from tfp_flows.sits.presets import preset
from tfp_flows.sits.presets import PRESETS
from tfp_flows.sits.presets import sits_for_model
from tfp_flows.sits.translate import Translate
from tfp_flows.sits.zero_latents import ZeroLatents

__all__ = [
    'BACKGROUND_THRESHOLD', 'CONTINUOUS_OFFSET', 'Compose', 'ContinuousNoise',
    'DiscreteNoise', 'SIT', 'Translate', 'ZeroLatents', 'background_mask',
    'default_sits', 'from_config', 'from_continuous', 'get', 'member_seed',
    'PRESETS', 'paper_presets', 'pixel_change', 'preset', 'sits_for_model',
    'to_continuous',
]
