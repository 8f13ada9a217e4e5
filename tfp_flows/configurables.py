"""Every package's gin configurables, for the command-line tools.

The top of the layering: it imports each package's own `configurables`
module (models, training, sits, analysis), so a tool imports this one and
can parse any tfp_flows config; the names are re-exported for code that
calls the configured entry points (`configurables.train(model_dir=...)`).
The classifiers register theirs separately
(`tfp_flows.classifiers.configurables`), so this namespace is unchanged by
them.

  Glow, PixelCNN        model constructors, referenced as `@Glow` / `@PixelCNN`
  train                 the trainer entry point (`train.model_fn = @Glow`)
  analyze_sits          the SIT study's entry point (bin/analyze_sits)
  Translate, ContinuousNoise, DiscreteNoise, ZeroLatents, ComposeSITs
                        the SITs (`analyze_sits.sits = [@Translate(), ...]`)
"""

from tfp_flows.analysis.configurables import analyze_sits
from tfp_flows.models.configurables import Glow
from tfp_flows.models.configurables import PixelCNN
from tfp_flows.sits.configurables import ComposeSITs
from tfp_flows.sits.configurables import ContinuousNoise
from tfp_flows.sits.configurables import DiscreteNoise
from tfp_flows.sits.configurables import Translate
from tfp_flows.sits.configurables import ZeroLatents
from tfp_flows.training.configurables import train

__all__ = ['ComposeSITs', 'ContinuousNoise', 'DiscreteNoise', 'Glow',
           'PixelCNN', 'Translate', 'ZeroLatents', 'analyze_sits', 'train']
