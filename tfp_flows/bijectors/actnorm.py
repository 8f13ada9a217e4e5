"""ActNorm: per-channel affine bijector with data-dependent initialisation."""

import contextlib

import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import identity_hashing

__all__ = ['ActNorm', 'data_dependent_init']


class ActNorm(identity_hashing.IdentityHashed, tfb.Bijector):
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
      validate_args: Python `bool`, check inputs at run time.
      dtype: float dtype of the variables and events.
      name: Python `str` name of the bijector.
    """
    parameters = dict(locals())
    _shapes.check_positive_int(num_channels, 'num_channels')
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
          forward_min_event_ndims=3, validate_args=validate_args,
          parameters=parameters, dtype=dtype, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    # The learned loc/scale are variables owned by the bijector, not
    # constructor parameters, so there are no batch-shaped parameters.
    return dict()

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
    self._loc.assign(mean)
    self._log_scale.assign(log_scale)
    self._initialized.assign(True)
    return (y - mean) * tf.exp(-log_scale)


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

  Args:
    bijectors: a bijector or list of bijectors to search for ActNorms.

  Yields:
    The list of ActNorm bijectors being initialised.
  """
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
