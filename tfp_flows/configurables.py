"""Registers tfp_flows' constructors and entry points with gin.

The one module that knows about gin: the library itself takes plain
arguments. Import it (bin/train and `tfp_flows.models.load` do) before
parsing `.gin` files. Configurables:

  Glow, PixelCNN        model constructors, referenced as `@Glow` / `@PixelCNN`
  train                 the trainer entry point (`train.model_fn = @Glow`)
"""

import gin

from tfp_flows import models
from tfp_flows.training import trainer

__all__ = ['Glow', 'PixelCNN', 'train']

Glow = gin.external_configurable(models.Glow, 'Glow')
PixelCNN = gin.external_configurable(models.PixelCNN, 'PixelCNN')
# `model_dir` comes from the command line; the hooks are for code, not configs.
train = gin.external_configurable(
    trainer.train, 'train',
    denylist=['model_dir', 'batch_hook', 'verbose', 'operative_config'])
