"""ActNorm: per-channel affine bijector with data-dependent initialisation."""

import contextlib

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import _validation
from tfp_flows.bijectors import identity_hashing
from tfp_flows.utils.validation import positive_int

__all__ = ['ActNorm', 'data_dependent_init']


class ActNorm(identity_hashing.IdentityHashed,
              _shapes.ChannelPreservingEventShape, tfb.Bijector):
  """Per-channel affine transform of images, Glow's activation normalisation.

  On event shape `[H, W, C]`:

  ```none
  forward (generative):   y = x * exp(log_scale) + loc
  inverse (normalising):  x = (y - loc) * exp(-log_scale)
  forward_log_det_jacobian = H * W * sum(log_scale)      (nats)
  ```

  `loc` and `log_scale` (shape `[C]`) start at the identity. Data-dependent
  initialisation sets them so that a batch passed through `inverse` comes out
  with zero mean and unit variance per channel; it happens once, inside
  `data_dependent_init`, and flips the `initialized` variable, which is saved
  in checkpoints, so a restored model never re-initialises.

  The Jacobian does not depend on `x` (`is_constant_jacobian=True`, as for
  `tfb.Scale`); it does depend on the variables, and is read from them on
  every call.

  Initialisation inside a `tf.function` works when the function is traced
  inside the `data_dependent_init` context (the mode is read at trace time),
  and gives the eager result. Such a function stays safe to call later: it
  keeps the values of an ActNorm that is already initialised. A function
  traced before the context does not initialise; `data_dependent_init` then
  raises a `RuntimeError` when the context exits.

  Under a `tf.distribute` strategy the statistics are all-reduced over the
  global batch, so every replica computes the same values; the variables use
  `ONLY_FIRST_REPLICA` aggregation, which makes the assignment legal in
  replica context.

  #### Examples

  ```python
  an = ActNorm(num_channels=4)
  with data_dependent_init([an]):
    z = an.inverse(images)      # z has zero mean, unit variance per channel
  ```
  """

  def __init__(self, num_channels, epsilon=1e-6, validate_args=False,
               dtype=tf.float32, name='act_norm'):
    """Builds the bijector.

    Args:
      num_channels: Python `int`, the channel count C of the events.
      epsilon: Python `float` added to the standard deviation at
        initialisation, so constant channels do not produce infinite scales.
        Default value: `1e-6`.
      validate_args: Python `bool`. When `True`, every call first asserts
        (at run time, so also inside a `tf.function`) that `loc` is finite
        and that `exp(log_scale)` and `exp(-log_scale)` are finite and
        non-zero (the map is not invertible otherwise), and initialisation
        asserts that the batch statistics are finite; a failure raises
        `tf.errors.InvalidArgumentError`. Shape errors (channel count, event
        rank) are static and raise `ValueError` whatever this flag. When
        `False` (default) no assertion ops are built.
      dtype: float dtype of the variables and events.
      name: Python `str` name of the bijector.
    """
    parameters = dict(locals())
    num_channels = positive_int(num_channels, 'num_channels')
    if not epsilon > 0:
      raise ValueError(f'`epsilon` must be positive; got {epsilon!r}.')
    with tf.name_scope(name) as name:
      self._num_channels = num_channels
      self._epsilon = epsilon
      first = tf.VariableAggregation.ONLY_FIRST_REPLICA
      self._loc = tf.Variable(
          tf.zeros([num_channels], dtype), name='loc', aggregation=first)
      self._log_scale = tf.Variable(
          tf.zeros([num_channels], dtype), name='log_scale', aggregation=first)
      self._initialized = tf.Variable(
          False, trainable=False, name='initialized', aggregation=first)
      # A plain Python flag (not thread-local): MirroredStrategy runs replicas
      # in threads, and all of them must see the initialisation mode.
      self._init_mode = False
      super().__init__(
          forward_min_event_ndims=3, is_constant_jacobian=True,
          validate_args=validate_args, parameters=parameters, dtype=dtype,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # The learned loc/scale are variables owned by the bijector, not
    # constructor parameters, so there are no batch-shaped parameters.
    return dict()

  def _parameter_control_dependencies(self, is_init):
    # loc/log_scale are variables: they change after construction (data-
    # dependent init, training), so they are checked on every call, never
    # once at construction (TFP's rule for variable parameters).
    if not self.validate_args or is_init:
      return []
    return (_validation.assert_finite(self._loc, f'{self.name}: `loc` is not '
                                      'finite')
            + _validation.assert_invertible_log_scale(
                self._log_scale, f'{self.name}: `log_scale`'))

  @property
  def num_channels(self):
    return self._num_channels

  @property
  def loc(self):
    return self._loc

  @property
  def log_scale(self):
    return self._log_scale

  @property
  def initialized(self):
    """`tf.Variable(bool)`: whether data-dependent init has happened."""
    return self._initialized

  @property
  def is_initialized(self):
    """The `initialized` flag as a Python `bool` (eager mode only).

    `bool(variable)` is not the variable's value for distributed variables,
    so always read it through here.
    """
    return bool(self._initialized.read_value().numpy())

  def _forward(self, x):
    _shapes.check_channels(x, self._num_channels, self.name)
    return x * tf.exp(self._log_scale) + self._loc

  def _inverse(self, y):
    _shapes.check_channels(y, self._num_channels, self.name)
    if self._init_mode:
      return self._initialize_from(y)
    return (y - self._loc) * tf.exp(-self._log_scale)

  def _forward_log_det_jacobian(self, x):
    height, width, _ = _shapes.static_event_shape(x)
    ldj = float(height * width) * tf.reduce_sum(self._log_scale)
    return ldj + _shapes.zeros_for_batch(x, ldj.dtype)

  def _initialize_from(self, y):
    """Sets loc/log_scale from the (global) batch `y`, returns normalised `y`."""
    axes = list(range(y.shape.rank - 1))
    replica_ctx = tf.distribute.get_replica_context()
    distributed = (replica_ctx is not None
                   and replica_ctx.num_replicas_in_sync > 1)

    def global_sum(values):
      if distributed:
        return replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)
      return values

    count = tf.cast(tf.reduce_prod(tf.shape(y)[:-1]), y.dtype)
    total, count = global_sum([tf.reduce_sum(y, axis=axes), count])
    mean = total / count
    # Two passes (mean, then squared deviations): the one-pass E[y^2] - E[y]^2
    # loses most float32 digits when |mean| >> std.
    var = global_sum(tf.reduce_sum(tf.square(y - mean), axis=axes)) / count
    log_scale = tf.math.log(tf.sqrt(var) + self._epsilon)
    if self.validate_args:
      mean, log_scale = _validation.with_dependencies(
          _validation.assert_finite(
              [mean, log_scale], f'{self.name}: the initialisation batch '
              'gives non-finite statistics (NaN or inf in the batch?)'),
          mean, log_scale)
    # An ActNorm already initialised keeps its values: a tf.function traced
    # in init mode keeps doing this when it is called again (after the
    # context, or for the next batch), and must not re-initialise.
    initialized = self._initialized.read_value()
    self._loc.assign(tf.where(initialized, self._loc, mean))
    self._log_scale.assign(tf.where(initialized, self._log_scale, log_scale))
    self._initialized.assign(True)
    # Read back: in a tf.function automatic control dependencies order these
    # reads after the assignments.
    return (y - self._loc) * tf.exp(-self._log_scale)


def _actnorms_in(bijector):
  """All ActNorm bijectors inside a (possibly nested) bijector."""
  found = []
  stack = [bijector]
  while stack:
    b = stack.pop()
    if isinstance(b, ActNorm):
      found.append(b)
    for attr in ('bijectors', 'bijector'):
      sub = getattr(b, attr, None)
      if isinstance(sub, tfb.Bijector):
        stack.append(sub)
      elif isinstance(sub, (list, tuple)):
        stack.extend(s for s in sub if isinstance(s, tfb.Bijector))
  return found


@contextlib.contextmanager
def data_dependent_init(bijectors):
  """Context in which ActNorms' `inverse` initialises them from their input.

  Run one normalising pass (`inverse`, or a distribution's `log_prob`) over an
  initialisation batch inside this context. ActNorms nested in chains are
  found automatically. Only ActNorms that are not yet `initialized` are put in
  initialisation mode, so a restored model is never re-initialised.

  The pass may run eagerly or in a `tf.function` *traced inside this
  context* (e.g. under `strategy.run`); both give the same values. The mode
  is a Python flag read when the function is traced, so a function traced
  before the context runs the plain inverse and initialises nothing; that is
  reported on exit instead of passing silently.

  Args:
    bijectors: a bijector or list of bijectors to search for ActNorms.

  Yields:
    The list of ActNorm bijectors being initialised.

  Raises:
    RuntimeError: when entered inside a `tf.function` (it must read the
      `initialized` flags eagerly), or when the context exits normally with
      some ActNorm of `pending` still uninitialised (no normalising pass
      reached it, e.g. a `tf.function` traced before the context, or a
      cached result of an earlier call on the same tensor).
  """
  if not tf.executing_eagerly():
    raise RuntimeError(
        '`data_dependent_init` must be entered eagerly, not inside a '
        '`tf.function`: it reads the ActNorms\' `initialized` flags. Enter '
        'it outside, and trace the function that runs the initialisation '
        'pass inside it.')
  if isinstance(bijectors, tfb.Bijector):
    bijectors = [bijectors]
  pending = []
  for b in bijectors:
    pending.extend(a for a in _actnorms_in(b) if not a.is_initialized)
  for a in pending:
    a._init_mode = True  # pylint: disable=protected-access
  try:
    yield pending
  finally:
    for a in pending:
      a._init_mode = False  # pylint: disable=protected-access
  # Reached only when the body did not raise.
  missed = [a.name for a in pending if not a.is_initialized]
  if missed:
    raise RuntimeError(
        f'`data_dependent_init`: {len(missed)} of {len(pending)} ActNorms '
        f'were not initialised ({", ".join(missed[:5])}'
        f'{", ..." if len(missed) > 5 else ""}): no normalising pass reached '
        'them inside the context. A `tf.function` traced before the context '
        'runs the plain inverse (the init mode is read at trace time): trace '
        'it inside the context. A repeated call on the same tensor object '
        'is answered from the bijector cache: pass a new tensor.')
