"""Experiments: runnable end-to-end jobs (`python -m tfp_flows.experiments.NAME`)."""
