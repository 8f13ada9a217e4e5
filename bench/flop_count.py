"""FLOPs of a traced function, including the functions it calls.

TensorFlow's graph profiler (`tf.compat.v1.profiler`) counts only the ops of
the graph it is given. Keras layers traced inside a `tf.function` (e.g. the
weight-normalised convolutions of `tfd.PixelCNN`) end up in nested functions
behind `StatefulPartitionedCall` ops, which it counts as zero. Inside those
functions the batch dimension is unknown (`None`), so the profiler could not
count them even if it looked.

`count_flops` therefore adds, to the profiler's count of the top-level graph
(static batch), a count of every nested function graph from the ops' shapes
with the unknown batch dimension set to the caller's batch:

* `Conv2D`: 2 x output elements x kh x kw x C_in;
  `DepthwiseConv2dNative`: 2 x output elements x kh x kw;
  `Conv2DBackpropInput` (transposed convolution): 2 x input elements x
  kh x kw x C_out; `MatMul` / `BatchMatMulV2`: 2 x M x K x N (x batch);
* elementwise arithmetic the profiler counts (`Add`, `Mul`, `BiasAdd`,
  ...): one FLOP per output element; reductions (`Sum`, `Mean`, ...): input
  minus output elements, as in the profiler's registry.

Transcendentals (`Exp`, `Elu`, `Sigmoid`, ...) count zero, as in the
profiler. Of an `If`, the cheaper branch is counted (a lower bound: in
`tfd.PixelCNN` the other branch is weight norm's one-off initialisation).
An unknown leading dimension is taken as the batch in tensors of rank >= 3
only; a `MatMul` on a flattened `[None, C]` input takes its rows from the
tensor it was reshaped from. Ops whose size stays unknown are not counted;
their number is returned, so an undercount is visible.

Units: FLOPs per call of the function at the given batch (not per image).
"""

import math

import tensorflow as tf

__all__ = ['count_flops', 'nested_graph_flops']

# Convolutions: op type -> (the input whose elements each cost one
# multiply-add per leading kernel entry, or None for the output; how many
# leading kernel dims multiply). Conv2D: kh x kw x C_in per output element;
# depthwise: kh x kw; a transposed convolution (Conv2DBackpropInput, kernel
# [kh, kw, C_out, C_in]): kh x kw x C_out per element of its input, which is
# op input 2.
_CONVOLUTIONS = {'Conv2D': (None, 3), 'DepthwiseConv2dNative': (None, 2),
                 'Conv2DBackpropInput': (2, 3)}

# One FLOP per output element, as in TF's profiler registry
# (tensorflow/python/profiler/internal/flops_registry.py).
_ELEMENTWISE = frozenset([
    'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'Pow',
    'Neg', 'Square', 'Reciprocal', 'Rsqrt', 'Log', 'SquaredDifference',
    'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual',
    'BiasAdd'])
# Input minus output elements (e.g. a sum of n numbers is n - 1 additions).
_REDUCTIONS = frozenset(['Sum', 'Mean', 'Max', 'Min', 'ArgMax', 'ArgMin'])
_CALLS = frozenset(['PartitionedCall', 'StatefulPartitionedCall'])
_CONDS = frozenset(['If', 'StatelessIf'])


def count_flops(fn, input_signature):
  """FLOPs of one call of `fn` on inputs of the given static shapes.

  Args:
    fn: a Python callable, traceable by `tf.function` (autograph off).
    input_signature: list of `tf.TensorSpec`; the first dimension of the
      first spec is the batch size used for nested functions' unknown
      batch dimension.

  Returns:
    `(flops, uncounted_ops)`: total FLOPs per call (float) and the number of
    nested ops that could not be counted for lack of shape.
  """
  # autograph off: autograph re-reads Python source from disk, which breaks
  # if the package is edited while a benchmark runs.
  concrete = tf.function(fn, autograph=False).get_concrete_function(
      *input_signature)
  batch = input_signature[0].shape[0]
  if batch is None:
    raise ValueError('count_flops needs a static batch size in the first '
                     f'input spec; got {input_signature[0]}.')
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts['output'] = 'none'
  top = tf.compat.v1.profiler.profile(graph=concrete.graph, options=opts)
  nested, uncounted = _called_flops(concrete.graph, batch)
  return float(top.total_float_ops) + nested, uncounted


def _function_graph(outer_graph, name):
  """The FuncGraph of the function `name` called from `outer_graph`."""
  graph = outer_graph
  while graph is not None:
    fn = graph._get_function(name)  # pylint: disable=protected-access
    if fn is not None:
      return fn.graph
    graph = getattr(graph, 'outer_graph', None)
  raise LookupError(f'function {name!r} not found from {outer_graph.name}')


def _called_flops(graph, batch):
  """FLOPs of the functions that the ops of `graph` call (not its own ops)."""
  total, uncounted = 0., 0
  for op in graph.get_operations():
    if op.type in _CALLS:
      flops, missed = nested_graph_flops(
          _function_graph(graph, op.get_attr('f').name), batch)
    elif op.type in _CONDS:
      branches = [
          nested_graph_flops(_function_graph(graph, op.get_attr(b).name),
                             batch)
          for b in ('then_branch', 'else_branch')]
      flops, missed = min(branches)
    else:
      continue
    total += flops
    uncounted += missed
  return total, uncounted


def _elements(shape, batch, min_batched_rank=3):
  """Number of elements of `shape`, an unknown leading dimension = `batch`.

  Only in tensors of rank >= `min_batched_rank` is an unknown leading
  dimension taken to be the batch: in a 2-D tensor it is usually the rows of
  a flattened `[N * H * W, C]` (Keras' `Dense` on images), not the batch.
  Returns None if the count is not known.
  """
  if shape.rank is None:
    return None
  dims = shape.as_list()
  if any(d is None for d in dims[1:]):
    return None
  if dims and dims[0] is None:
    if len(dims) < min_batched_rank:
      return None
    dims[0] = batch
  return math.prod(dims)


def _reshape_source_elements(tensor, batch):
  """Elements of `tensor`, looking through reshapes if its shape is unknown.

  Keras' `Dense` on an image tensor (a 1x1 convolution) flattens it to
  `[None, None]` before its `MatMul`; the flattened tensor has as many
  elements as the image tensor it came from.
  """
  while True:
    n = _elements(tensor.shape, batch)
    if n is not None:
      return n
    if tensor.op.type not in ('Reshape', 'Transpose', 'Identity'):
      return None
    tensor = tensor.op.inputs[0]


def _matmul_flops(op, batch):
  """2 x M x K x N (x batch dims) for `MatMul` / `BatchMatMul*`, or None."""
  a, b = op.inputs[0], op.inputs[1]
  if op.type == 'MatMul':
    transpose_a, transpose_b = (op.get_attr('transpose_a'),
                                op.get_attr('transpose_b'))
  else:
    transpose_a, transpose_b = op.get_attr('adj_x'), op.get_attr('adj_y')
  if b.shape.rank is None:
    return None
  k = b.shape.as_list()[-1 if transpose_b else -2]
  n_out = b.shape.as_list()[-2 if transpose_b else -1]
  if k is None or n_out is None:
    if a.shape.rank is None:
      return None
    k = k or a.shape.as_list()[-2 if transpose_a else -1]
    if k is None:
      return None
  out = _elements(op.outputs[0].shape, batch)
  if out is not None:          # M x N (x batch dims) elements out
    return 2. * out * k
  a_elements = _reshape_source_elements(a, batch)
  if a_elements is None or n_out is None:
    return None
  return 2. * a_elements * n_out  # (M x K) elements in, N outputs each


def _op_flops(op, batch):
  """FLOPs of one op with the batch dimension set, or None if unknown."""
  kind = op.type
  out = op.outputs[0].shape if op.outputs else None
  if kind in _CONVOLUTIONS:
    counted_input, kernel_dims = _CONVOLUTIONS[kind]
    n = _elements(out if counted_input is None else
                  op.inputs[counted_input].shape, batch)
    kernel = op.inputs[1].shape
    if n is None or not kernel.is_fully_defined():
      return None
    return 2. * n * math.prod(kernel.as_list()[:kernel_dims])
  if kind in ('MatMul', 'BatchMatMulV2', 'BatchMatMul'):
    return _matmul_flops(op, batch)
  if kind in _ELEMENTWISE:
    return None if out is None else _elements(out, batch)
  if kind in _REDUCTIONS:  # as the profiler: input minus output elements
    n_in = _elements(op.inputs[0].shape, batch)
    n_out = _elements(out, batch, min_batched_rank=1)
    return None if n_in is None or n_out is None else n_in - n_out
  return 0.


def nested_graph_flops(graph, batch):
  """FLOPs of all ops of a nested function graph and of what it calls.

  Args:
    graph: a `FuncGraph` whose unknown leading dimensions are the batch.
    batch: int, the caller's static batch size.

  Returns:
    `(flops, uncounted_ops)`.
  """
  total, uncounted = 0., 0
  for op in graph.get_operations():
    flops = _op_flops(op, batch)
    if flops is None:
      uncounted += 1
    else:
      total += flops
  called, missed = _called_flops(graph, batch)
  return total + called, uncounted + missed
