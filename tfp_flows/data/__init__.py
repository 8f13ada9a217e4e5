"""Data sets for tfp_flows: fetching, verified loading and tf.data pipelines.

Typical use::

    from tfp_flows import data
    data.fetch()                                  # once; or bin/fetch_data
    images, labels = data.load("fashion_mnist", "train")
    ds = data.make_dataset(images, batch_size=64, seed=0)

``make_dataset`` and ``make_named_dataset`` are imported lazily, so that
fetching and loading (e.g. ``bin/fetch_data``) do not pay for importing
TensorFlow.
"""

import importlib

from tfp_flows.data.catalog import CLASS_NAMES
from tfp_flows.data.catalog import DATASET_NAMES
from tfp_flows.data.catalog import FASHION_MNIST_CLASS_NAMES
from tfp_flows.data.catalog import IMAGE_SHAPE
from tfp_flows.data.catalog import MNIST_CLASS_NAMES
from tfp_flows.data.catalog import NUM_CLASSES
from tfp_flows.data.catalog import REAL_DATASETS
from tfp_flows.data.catalog import SPLITS
from tfp_flows.data.catalog import SPLIT_SIZES
from tfp_flows.data.catalog import SYNTHETIC_DATASETS
from tfp_flows.data.catalog import ood_dataset_for
from tfp_flows.data.errors import CorruptDataError
from tfp_flows.data.errors import FetchError
from tfp_flows.data.errors import IdxFormatError
from tfp_flows.data.fetch import fetch
from tfp_flows.data.idx import read_idx
from tfp_flows.data.loading import load

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "FASHION_MNIST_CLASS_NAMES",
    "IMAGE_SHAPE",
    "MNIST_CLASS_NAMES",
    "NUM_CLASSES",
    "REAL_DATASETS",
    "SPLITS",
    "SPLIT_SIZES",
    "SYNTHETIC_DATASETS",
    "CorruptDataError",
    "FetchError",
    "IdxFormatError",
    "fetch",
    "load",
    "make_dataset",
    "make_named_dataset",
    "ood_dataset_for",
    "read_idx",
]

_LAZY = {
    "make_dataset": "tfp_flows.data.pipeline",
    "make_named_dataset": "tfp_flows.data.pipeline"
}


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
