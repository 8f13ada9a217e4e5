"""Data sets for tfp_flows: verified loading, synthetic OoD sets, tf.data.

Typical use::

    from tfp_flows import data
    images, labels = data.load("fashion_mnist", "train")
    ds = data.make_dataset(images, batch_size=64, seed=0)

The real data sets are read from a local cache that ``bin/fetch_data`` fills
(``bin/reproduce`` and ``bin/test`` run it); the library never fetches, and a
missing file is an error naming the file and that command.

``make_dataset`` is imported on first use: it needs TensorFlow (seconds to
import), while everything else here needs only numpy, and ``bin/fetch_data``,
run by every bootstrap, imports this package.
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
from tfp_flows.data.errors import IdxFormatError
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
    "IdxFormatError",
    "load",
    "make_dataset",
    "ood_dataset_for",
]


def __getattr__(name):
  # PEP 562: called only for names not found above.
  if name == "make_dataset":
    return importlib.import_module("tfp_flows.data.pipeline").make_dataset
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
