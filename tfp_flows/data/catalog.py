"""Names, splits, sizes and class names of the supported data sets."""

__all__ = [
    "REAL_DATASETS",
    "SYNTHETIC_DATASETS",
    "DATASET_NAMES",
    "SPLITS",
    "SPLIT_SIZES",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "FASHION_MNIST_CLASS_NAMES",
    "MNIST_CLASS_NAMES",
    "CLASS_NAMES",
    "SYNTHETIC_BASE",
    "ood_dataset_for",
    "check_dataset_name",
    "check_real_dataset_name",
    "check_split",
]

REAL_DATASETS = ("fashion_mnist", "mnist")
SYNTHETIC_DATASETS = (
    "constant",
    "uniform_noise",
    "fashion_mnist_inverted",
    "fashion_mnist_vflip",
)
DATASET_NAMES = REAL_DATASETS + SYNTHETIC_DATASETS
SPLITS = ("train", "test")
# Both real data sets have the same split sizes.
SPLIT_SIZES = {"train": 60000, "test": 10000}
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(NUM_CLASSES))
CLASS_NAMES = {
    "fashion_mnist": FASHION_MNIST_CLASS_NAMES,
    "mnist": MNIST_CLASS_NAMES,
}

# The real data set whose split sizes (and, for the derived sets, images)
# each synthetic set follows.
SYNTHETIC_BASE = {name: "fashion_mnist" for name in SYNTHETIC_DATASETS}

_OOD_PAIRS = {"fashion_mnist": "mnist", "mnist": "fashion_mnist"}


def check_dataset_name(name):
  """Returns ``name`` if it is in ``DATASET_NAMES``.

    Raises:
      TypeError: if ``name`` is not a string.
      ValueError: naming the valid data sets otherwise.
    """
  if not isinstance(name, str):
    raise TypeError(
        f"dataset name must be a string, got {type(name).__name__}: "
        f"{name!r}")
  if name not in DATASET_NAMES:
    raise ValueError(f"unknown dataset {name!r}; valid names: "
                     f"{', '.join(DATASET_NAMES)}")
  return name


def check_real_dataset_name(name):
  """Returns ``name`` if it is in ``REAL_DATASETS``.

    Raises:
      TypeError: if ``name`` is not a string.
      ValueError: naming the valid real data sets otherwise.
    """
  if not isinstance(name, str):
    raise TypeError(
        f"dataset name must be a string, got {type(name).__name__}: "
        f"{name!r}")
  if name not in REAL_DATASETS:
    raise ValueError(f"unknown real dataset {name!r}; valid names: "
                     f"{', '.join(REAL_DATASETS)}")
  return name


def check_split(split):
  """Returns ``split`` if it is in ``SPLITS``.

    Raises:
      TypeError: if ``split`` is not a string.
      ValueError: naming the valid splits otherwise.
    """
  if not isinstance(split, str):
    raise TypeError(
        f"split must be a string, got {type(split).__name__}: {split!r}")
  if split not in SPLITS:
    raise ValueError(
        f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
  return split


def ood_dataset_for(name):
  """Returns the real data set used as out-of-distribution data for ``name``.

    Args:
      name: ``'fashion_mnist'`` or ``'mnist'``.

    Returns:
      ``'mnist'`` for ``'fashion_mnist'`` and ``'fashion_mnist'`` for
      ``'mnist'``.

    Raises:
      ValueError: if ``name`` is not a real data set.
    """
  return _OOD_PAIRS[check_real_dataset_name(name)]
