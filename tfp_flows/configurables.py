"""Registers tfp_flows' constructors and entry points with gin.

The one module that knows about gin: the library itself takes plain
arguments. Import it (bin/train and `tfp_flows.models.load` do) before
parsing `.gin` files. Configurables:

  Glow, PixelCNN        model constructors, referenced as `@Glow` / `@PixelCNN`
  train                 the trainer entry point (`train.model_fn = @Glow`)
  analyze_sits          the SIT study's entry point (bin/analyze_sits)
  Translate, ContinuousNoise, DiscreteNoise, ZeroLatents, ComposeSITs
                        the SITs (`analyze_sits.sits = [@Translate(), ...]`)
"""

import gin

from tfp_flows import models
from tfp_flows import sits
from tfp_flows.analysis import entry
from tfp_flows.training import trainer

__all__ = ['ComposeSITs', 'ContinuousNoise', 'DiscreteNoise', 'Glow',
           'PixelCNN', 'Translate', 'ZeroLatents', 'analyze_sits', 'train']

Glow = gin.external_configurable(models.Glow, 'Glow')
PixelCNN = gin.external_configurable(models.PixelCNN, 'PixelCNN')
# `model_dir` comes from the command line; the hooks are for code, not configs.
train = gin.external_configurable(
    trainer.train, 'train',
    denylist=['model_dir', 'batch_hook', 'verbose', 'operative_config'])

Translate = gin.external_configurable(sits.Translate, 'Translate')
ContinuousNoise = gin.external_configurable(sits.ContinuousNoise,
                                            'ContinuousNoise')
DiscreteNoise = gin.external_configurable(sits.DiscreteNoise, 'DiscreteNoise')
ZeroLatents = gin.external_configurable(sits.ZeroLatents, 'ZeroLatents')
ComposeSITs = gin.external_configurable(sits.Compose, 'ComposeSITs')
# Model and output directories come from the command line.
analyze_sits = gin.external_configurable(
    entry.analyze_sits, 'analyze_sits',
    denylist=['model_dirs', 'output_dir', 'verbose'])
