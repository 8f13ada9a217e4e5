"""Exception types raised by :mod:`tfp_flows.data`.

They subclass ``ValueError``, the built-in type callers already expect for
bad content, so ``except ValueError`` keeps working while messages stay
specific. A missing cache file is a plain ``FileNotFoundError``.
"""

__all__ = ["IdxFormatError", "CorruptDataError"]


class IdxFormatError(ValueError):
  """Bytes that are not a well-formed uint8 IDX file (bad magic or size)."""


class CorruptDataError(ValueError):
  """A cached data file exists but its SHA-256 or contents are wrong."""
