"""Exception types raised by :mod:`tfp_flows.data`.

They subclass the built-in types callers already expect (``ValueError`` for
bad content, ``RuntimeError`` for an environment that cannot supply the data),
so ``except ValueError`` keeps working while messages stay specific.
"""

__all__ = ["IdxFormatError", "CorruptDataError", "FetchError"]


class IdxFormatError(ValueError):
  """A file is not a well-formed uint8 IDX file (bad magic, size or gzip)."""


class CorruptDataError(ValueError):
  """A cached data file exists but its SHA-256 or contents are wrong."""


class FetchError(RuntimeError):
  """No source could supply a data set; the message lists what was tried."""
