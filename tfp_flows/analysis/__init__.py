"""Analysis of likelihoods: statistics, the SIT study, reports and figures.

Per-image bits/dim are evaluated by `tfp_flows.models.evaluation`."""

from tfp_flows.analysis.statistics import auroc
from tfp_flows.analysis.statistics import bootstrap_mean_ci
from tfp_flows.analysis.statistics import rankdata
from tfp_flows.analysis.statistics import spearman
from tfp_flows.analysis.statistics import summarize

__all__ = ['auroc', 'bootstrap_mean_ci', 'rankdata',
           'spearman', 'summarize']
