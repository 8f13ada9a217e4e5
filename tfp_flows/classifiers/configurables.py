"""Registers the classifier trainer with gin (for `bin/train_classifier`).

Kept apart from `tfp_flows.configurables` so that the flow models' gin
namespace is unchanged. Import it before parsing
`gin_configs/classifiers/*.gin`. Configurables:

  train_classifier   `tfp_flows.classifiers.train_classifier`; `model_dir`
                     and `verbose` come from the command line, not configs.
"""

import gin

from tfp_flows.classifiers import training

__all__ = ['train_classifier']

train_classifier = gin.external_configurable(
    training.train_classifier, 'train_classifier',
    denylist=['model_dir', 'verbose'])
