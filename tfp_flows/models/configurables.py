"""Registers the model constructors with gin: `@Glow`, `@PixelCNN`.

The models take plain arguments; this module is the gin edge for configs
that build them (`train.model_fn = @Glow`). Import it, or
`tfp_flows.configurables` (every package's), before parsing such a config.
"""

import gin

from tfp_flows.models import glow
from tfp_flows.models import pixelcnn

__all__ = ['Glow', 'PixelCNN']

Glow = gin.external_configurable(glow.Glow, 'Glow')
PixelCNN = gin.external_configurable(pixelcnn.PixelCNN, 'PixelCNN')
