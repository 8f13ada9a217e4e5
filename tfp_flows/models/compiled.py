"""Compiled model functions over flattened batches: traced once, reused."""

import tensorflow as tf

__all__ = ['BatchedFunctions']


class BatchedFunctions:
  """A model's cache of `tf.function`s over `[None, H, W, C]` batches.

  `call` flattens any batch shape `[..., H, W, C]` to one dimension, so one
  trace (fixed input signature) serves every batch size and shape, then
  restores the batch dims on each output. A plain object on purpose: a dict
  attribute of a `tf.Module` would be tracked, and checkpointing fails once
  it holds non-string keys.
  """

  def __init__(self, dtype=tf.float32):
    self._dtype = dtype
    self._functions = {}

  def call(self, key, fn, x, *extra):
    """Runs `fn(x_flat, *extra)` compiled under `key`; restores batch dims.

    Args:
      key: hashable name of the function (one trace per key).
      fn: Python callable of `[N, H, W, C]` (and `extra`) -> nest of
        `[N, ...]` tensors.
      x: `[..., H, W, C]` values, cast to the model dtype.
      *extra: further tensors with fixed shapes (e.g. a `[2]` seed).

    Returns:
      `fn`'s outputs with their leading dim replaced by `x`'s batch shape
      (empty for an empty batch).
    """
    x = tf.cast(x, self._dtype)
    event_shape = x.shape[-3:].as_list()
    batch_shape = tf.shape(x)[:-3]
    function = self._functions.get(key)
    if function is None:
      signature = [tf.TensorSpec([None] + event_shape, self._dtype)]
      signature += [tf.TensorSpec.from_tensor(tf.convert_to_tensor(e))
                    for e in extra]
      # autograph off: the models have no tensor-dependent Python control
      # flow, and converting TFP's code only slows tracing.
      function = tf.function(fn, input_signature=signature, autograph=False)
      self._functions[key] = function
    flat = tf.reshape(x, [-1] + event_shape)
    if flat.shape[0] == 0:
      # An empty batch: convolutions reject it with cryptic errors. Its
      # results are empty; one all-zero image gives their shapes and dtypes.
      out = tf.nest.map_structure(
          lambda t: t[:0],
          function(tf.zeros([1] + event_shape, self._dtype), *extra))
    else:
      out = function(flat, *extra)
    return tf.nest.map_structure(
        lambda t: tf.reshape(t, tf.concat([batch_shape, tf.shape(t)[1:]], 0)),
        out)

  def cached(self, key, make):
    """Any other function by `key`, created once by `make()`."""
    if key not in self._functions:
      self._functions[key] = make()
    return self._functions[key]

  def get(self, key):
    """The compiled function under `key`, or None (e.g. to count traces)."""
    return self._functions.get(key)
