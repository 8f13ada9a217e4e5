"""Analysis of likelihoods: batched evaluation and statistics."""

from tfp_flows.analysis.evaluate import evaluate_bits_per_dim
from tfp_flows.analysis.statistics import auroc
from tfp_flows.analysis.statistics import bootstrap_mean_ci
from tfp_flows.analysis.statistics import rankdata
from tfp_flows.analysis.statistics import spearman
from tfp_flows.analysis.statistics import summarize

__all__ = ['auroc', 'bootstrap_mean_ci', 'evaluate_bits_per_dim', 'rankdata',
           'spearman', 'summarize']
