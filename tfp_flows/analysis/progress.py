"""A console progress line with throughput and ETA, for long evaluations."""

import sys
import time

from tfp_flows.utils import display

__all__ = ['Progress']


class Progress:
  """Counts work units (images scored) against a known total.

  On a terminal the line is redrawn in place; otherwise (logs, CI) a line is
  printed every `every_percent` of the total, so logs stay short.
  """

  def __init__(self, total, prefix='', stream=None, enabled=True,
               every_percent=5.):
    self._total = max(int(total), 0)
    self._done = 0
    self._prefix = prefix
    self._stream = stream or sys.stderr
    self._enabled = enabled
    self._tty = bool(getattr(self._stream, 'isatty', lambda: False)())
    self._every = max(1, int(self._total * every_percent / 100.))
    self._next_print = self._every
    self._start = time.perf_counter()
    self.label = ''

  @property
  def done(self):
    return self._done

  def advance(self, units):
    """Adds `units` finished work units and redraws the line if due."""
    self._done += int(units)
    if not self._enabled:
      return
    if self._tty or self._done >= self._next_print or (
        self._done >= self._total):
      while self._next_print <= self._done:
        self._next_print += self._every
      self._write()

  def _write(self):
    elapsed = time.perf_counter() - self._start
    rate = self._done / elapsed if elapsed > 0 else 0.
    eta = (self._total - self._done) / rate if rate > 0 else float('nan')
    pct = 100. * self._done / self._total if self._total else 100.
    line = (f'{self._prefix}{self._done:,}/{self._total:,} images '
            f'({pct:4.1f}%)  {rate:6.1f} img/s  ETA '
            f'{display.format_eta(eta)}  {self.label}')
    if self._tty:
      self._stream.write('\r' + line[:160].ljust(160))
      if self._done >= self._total:
        self._stream.write('\n')
    else:
      self._stream.write(line + '\n')
    self._stream.flush()
