"""Every file in gin_configs/ parses and builds a working model."""

import glob
import os

import gin
import numpy as np
import pytest

from tfp_flows import configurables  # pylint: disable=unused-import
from tfp_flows import data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, 'gin_configs', '*.gin')))


def test_there_are_research_and_tiny_configs():
  names = {os.path.basename(p) for p in CONFIGS}
  assert {'tiny_glow.gin'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_config_parses_and_builds_its_model(path):
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config_file(path)
  try:
    model = gin.query_parameter('train.model_fn').scoped_configurable_fn()
    dataset = gin.query_parameter('train.dataset')
  finally:
    with gin.unlock_config():
      gin.clear_config()
  assert dataset in data.REAL_DATASETS
  assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) > 0
  images, _ = data.load(dataset, 'test')
  bpd = model.bits_per_dim(images[:2], seed=0).numpy()
  assert bpd.shape == (2,) and np.all(np.isfinite(bpd))
