"""Registers the SIT study's entry point with gin as `analyze_sits`.

Model and output directories come from the command line. The SITs a
config lists are registered by `tfp_flows.sits.configurables`, imported
here so that a study config parses after importing this module alone.
"""

import gin

from tfp_flows.analysis import entry
from tfp_flows.sits import configurables as sit_configurables  # pylint: disable=unused-import

__all__ = ['analyze_sits']

analyze_sits = gin.external_configurable(
    entry.analyze_sits, 'analyze_sits',
    denylist=['model_dirs', 'output_dir', 'verbose'])
