"""bench/flop_count.py counts the FLOPs of nested functions like flat ones.

The benchmark's fractions of peak rest on it: TF's profiler alone counts
nothing inside the nested functions that Keras layers become (issue 5).
"""

import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'bench'))
import flop_count  # noqa: E402

BATCH = 5
KERNEL = tf.constant(np.random.default_rng(0).standard_normal(
    (3, 3, 3, 4)).astype(np.float32))
DENSE = tf.constant(np.random.default_rng(1).standard_normal(
    (4, 6)).astype(np.float32))


def _body(x):
  """Conv 3x3 (3->4) + bias, ReLU, a Keras-Dense-like 1x1 matmul, a sum."""
  h = tf.nn.bias_add(tf.nn.conv2d(x, KERNEL, 1, 'SAME'), tf.ones([4]))
  h = tf.nn.relu(h)
  # Flattened like Keras' Dense on an image: a [None, None] MatMul input.
  flat = tf.reshape(h, [-1, tf.shape(h)[-1]])
  y = tf.reshape(tf.matmul(flat, DENSE), tf.concat([tf.shape(h)[:-1], [6]], 0))
  return tf.reduce_sum(y * y, axis=[1, 2, 3])


def _profiler_flops(fn, spec):
  graph = tf.function(fn, autograph=False).get_concrete_function(spec).graph
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts['output'] = 'none'
  return tf.compat.v1.profiler.profile(graph=graph, options=opts
                                       ).total_float_ops


def test_nested_function_counts_like_the_flat_graph():
  spec = tf.TensorSpec([BATCH, 8, 7, 3], tf.float32)
  # The same body traced inside a nested function with an unknown batch, as
  # Keras layers are: the profiler alone sees almost nothing of it.
  inner = tf.function(_body, autograph=False, input_signature=[
      tf.TensorSpec([None, 8, 7, 3], tf.float32)])
  nested = lambda x: inner(x) + 0.

  flat, flat_missed = flop_count.count_flops(_body, [spec])
  counted, missed = flop_count.count_flops(nested, [spec])

  assert flat_missed == 0 and missed == 0
  expected_conv = 2 * BATCH * 8 * 7 * 4 * 3 * 3 * 3
  expected_matmul = 2 * BATCH * 8 * 7 * 4 * 6
  assert flat == _profiler_flops(_body, spec)
  assert flat > expected_conv + expected_matmul
  assert _profiler_flops(nested, spec) < 0.01 * flat
  # The only extra op of the nested version is the outer `+ 0.`.
  assert counted == flat + BATCH


def test_cond_counts_the_cheaper_branch():
  spec = tf.TensorSpec([BATCH, 8, 7, 3], tf.float32)
  inner = tf.function(
      lambda x, init: tf.cond(init, lambda: _body(x), lambda: x[:, 0, 0, 0]),
      autograph=False, input_signature=[
          tf.TensorSpec([None, 8, 7, 3], tf.float32),
          tf.TensorSpec([], tf.bool)])
  counted, missed = flop_count.count_flops(
      lambda x: inner(x, tf.constant(False)), [spec])
  assert missed == 0 and counted == 0


def test_static_batch_required():
  try:
    flop_count.count_flops(_body, [tf.TensorSpec([None, 8, 7, 3])])
  except ValueError as e:
    assert 'static batch' in str(e)
  else:
    raise AssertionError('no error for an unknown batch size')


def test_depthwise_and_transposed_convolutions_are_counted_from_shapes():
  depthwise = tf.constant(np.random.default_rng(2).standard_normal(
      (3, 3, 3, 1)).astype(np.float32))
  transposed = tf.constant(np.random.default_rng(3).standard_normal(
      (2, 2, 5, 3)).astype(np.float32))  # [kh, kw, C_out, C_in]

  def body(x):
    d = tf.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], 'SAME')
    t = tf.nn.conv2d_transpose(x, transposed, tf.stack(
        [tf.shape(x)[0], 16, 14, 5]), 2)
    return tf.reduce_sum(d, axis=[1, 2, 3]), tf.reduce_sum(t, axis=[1, 2, 3])

  inner = tf.function(body, autograph=False, input_signature=[
      tf.TensorSpec([None, 8, 7, 3], tf.float32)])
  counted, missed = flop_count.count_flops(
      inner, [tf.TensorSpec([BATCH, 8, 7, 3], tf.float32)])
  assert missed == 0
  pixels = BATCH * 8 * 7
  expected_depthwise = 2 * pixels * 3 * 3 * 3        # per output element
  expected_transposed = 2 * pixels * 3 * 2 * 2 * 5   # per input element
  sums = (pixels * 3 - BATCH) + (BATCH * 16 * 14 * 5 - BATCH)
  assert counted == expected_depthwise + expected_transposed + sums
