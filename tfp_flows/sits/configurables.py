"""Registers the SITs with gin (`analyze_sits.sits = [@Translate(), ...]`).

Translate, ContinuousNoise, DiscreteNoise, ZeroLatents, and ComposeSITs
(`tfp_flows.sits.Compose`).
"""

import gin

from tfp_flows.sits import compose
from tfp_flows.sits import noise
from tfp_flows.sits import translate
from tfp_flows.sits import zero_latents

__all__ = ['ComposeSITs', 'ContinuousNoise', 'DiscreteNoise', 'Translate',
           'ZeroLatents']

Translate = gin.external_configurable(translate.Translate, 'Translate')
ContinuousNoise = gin.external_configurable(noise.ContinuousNoise,
                                            'ContinuousNoise')
DiscreteNoise = gin.external_configurable(noise.DiscreteNoise, 'DiscreteNoise')
ZeroLatents = gin.external_configurable(zero_latents.ZeroLatents,
                                        'ZeroLatents')
ComposeSITs = gin.external_configurable(compose.Compose, 'ComposeSITs')
