"""Registers the trainer's entry point with gin as `train`.

`model_dir` comes from the command line; the hooks are for code, not
configs. The model a config names (`train.model_fn = @Glow`) is registered
by `tfp_flows.models.configurables`, imported here so that a training
config parses after importing this module alone.
"""

import gin

from tfp_flows.models import configurables as model_configurables  # pylint: disable=unused-import
from tfp_flows.training import trainer

__all__ = ['train']

train = gin.external_configurable(
    trainer.train, 'train',
    denylist=['model_dir', 'batch_hook', 'verbose', 'operative_config'])
