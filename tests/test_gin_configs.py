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


# The research configs the README lists, and the tiny ones tests train. The
# parametrized test below parses and builds every one of them (research
# models at full size) and scores two real test images.
RESEARCH = {f'paper_glow_{coupling}_{dataset}.gin'
            for coupling in ('affine', 'additive')
            for dataset in ('fashion_mnist', 'mnist')} | {
                'pixelcnn_fashion_mnist.gin', 'pixelcnn_mnist.gin',
                'pixelcnn_fashion_mnist_background.gin',
                'pixelcnn_mnist_background.gin',
                'small_glow_fashion_mnist.gin',
                'small_glow_additive_fashion_mnist.gin',
                'small_glow_mnist.gin'}
TINY = {'tiny_glow.gin', 'tiny_glow3.gin', 'tiny_pixelcnn.gin'}


def test_research_and_tiny_configs_are_all_there():
  names = {os.path.basename(p) for p in CONFIGS}
  assert RESEARCH <= names, sorted(RESEARCH - names)
  assert TINY <= names, sorted(TINY - names)


def _config_params():
  """Every config; the full-size (non-tiny) builds are marked slow."""
  return [pytest.param(
      p, id=os.path.basename(p),
      marks=() if os.path.basename(p) in TINY else pytest.mark.slow)
          for p in CONFIGS]


def _parse(path):
  with gin.unlock_config():
    gin.clear_config()
    gin.parse_config_file(path)


def _clear():
  with gin.unlock_config():
    gin.clear_config()


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_config_parses(path):
  # Cheap (no model is built), so `bin/test --fast` still sees every config.
  _parse(path)
  try:
    model_fn = gin.query_parameter('train.model_fn')
    dataset = gin.query_parameter('train.dataset')
  finally:
    _clear()
  assert callable(model_fn.scoped_configurable_fn)
  assert dataset in data.REAL_DATASETS


@pytest.mark.parametrize('path', _config_params())
def test_config_parses_and_builds_its_model(path):
  _parse(path)
  try:
    model = gin.query_parameter('train.model_fn').scoped_configurable_fn()
    dataset = gin.query_parameter('train.dataset')
  finally:
    _clear()
  assert dataset in data.REAL_DATASETS
  assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) > 0
  images, _ = data.load(dataset, 'test')
  bpd = model.bits_per_dim(images[:2], seed=0).numpy()
  assert bpd.shape == (2,) and np.all(np.isfinite(bpd))
