"""Parser for uint8 IDX files (the MNIST file format).

An IDX file is a 4-byte big-endian magic number ``0x0000TTNN`` (``TT`` the
element type code, ``NN`` the number of dimensions), then ``NN`` big-endian
uint32 dimension sizes, then the elements in C order. Only unsigned bytes
(type code 0x08) in 1-D (labels, magic 0x00000801) or 3-D (images, magic
0x00000803) are supported, which is all the MNIST-style data sets use.
The cache holds decompressed files only; decompressing and writing IDX files
is done by ``bin/fetch_data``.
"""

import math
import struct

import numpy as np

from tfp_flows.data.errors import IdxFormatError

__all__ = [
    "LABELS_MAGIC",
    "IMAGES_MAGIC",
    "parse_idx",
]

LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

_UBYTE_CODE = 0x08
_SUPPORTED_NDIMS = (1, 3)
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def parse_idx(data, source="<bytes>"):
  """Parses IDX bytes into a uint8 array without copying.

    Args:
      data: raw (uncompressed) IDX bytes.
      source: name of the file the bytes came from, used in error messages.

    Returns:
      Read-only ``np.uint8`` array of shape ``[d0]`` (labels) or
      ``[d0, d1, d2]`` (images), a view of ``data``.

    Raises:
      IdxFormatError: if the magic number, element type, number of
        dimensions or payload size is wrong; the message names ``source``.
    """
  if len(data) < 4:
    raise IdxFormatError(
        f"{source}: file is {len(data)} bytes, too short for an IDX "
        "header (4-byte magic number)")
  (magic,) = struct.unpack(">I", data[:4])
  type_code = (magic >> 8) & 0xFF
  ndim = magic & 0xFF
  if magic >> 16 != 0:
    raise IdxFormatError(
        f"{source}: bad IDX magic number 0x{magic:08X}; expected "
        f"0x{LABELS_MAGIC:08X} (uint8 labels) or 0x{IMAGES_MAGIC:08X} "
        "(uint8 images) - not an IDX file")
  if type_code != _UBYTE_CODE:
    type_name = _TYPE_NAMES.get(type_code, "unknown")
    raise IdxFormatError(
        f"{source}: IDX magic number 0x{magic:08X} has element type code "
        f"0x{type_code:02X} ({type_name}); only 0x08 (unsigned byte) is "
        "supported")
  if ndim not in _SUPPORTED_NDIMS:
    raise IdxFormatError(
        f"{source}: IDX magic number 0x{magic:08X} declares {ndim} "
        "dimensions; only 1 (labels) or 3 (images) are supported")
  header_size = 4 + 4 * ndim
  if len(data) < header_size:
    raise IdxFormatError(
        f"{source}: file is {len(data)} bytes, shorter than its "
        f"{header_size}-byte IDX header - truncated")
  dims = struct.unpack(f">{ndim}I", data[4:header_size])
  expected = math.prod(dims)
  actual = len(data) - header_size
  if actual != expected:
    problem = "truncated" if actual < expected else "has trailing bytes"
    raise IdxFormatError(
        f"{source}: IDX payload is {actual} bytes but header dimensions "
        f"{list(dims)} need {expected} - file {problem}")
  array = np.frombuffer(data, dtype=np.uint8, offset=header_size)
  array = array.reshape(dims)
  # bytes-backed arrays are already read-only; bytearray-backed ones are not,
  # and callers must be able to rely on one behaviour.
  array.flags.writeable = False
  return array
