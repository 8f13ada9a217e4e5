"""Out-of-distribution scores built on trained density models.

Every score is a plain function of trained models and uint8 images
`[N, H, W, C]` that returns float64 `[N]` (or, for batch-level tests,
`[num_batches]`) where **higher means more out-of-distribution**; bits/dim
is such a score as it stands. `metrics` turns two score arrays (in-
distribution = negatives, OoD = positives) into AUROC, AUPR and FPR at 95%
TPR with bootstrap intervals.

Layer: above `models`, `sits` and `utils`; below `experiments`. Nothing
here reads gin.
"""

from tfp_flows.ood import complexity
from tfp_flows.ood import guidance
from tfp_flows.ood import levels
from tfp_flows.ood import likelihood_ratio
from tfp_flows.ood import metrics
from tfp_flows.ood import typicality

__all__ = ['complexity', 'guidance', 'levels', 'likelihood_ratio', 'metrics',
           'typicality']
