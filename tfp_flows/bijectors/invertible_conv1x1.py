"""Glow's invertible 1x1 convolution with an LU-decomposed kernel."""

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import _validation
from tfp_flows.bijectors import identity_hashing
from tfp_flows.utils.validation import positive_int

__all__ = ['InvertibleConv1x1', 'random_rotation_lu']


def random_rotation_lu(num_channels, seed):
  """LU factors of a random rotation matrix, in numpy float64.

  A random orthogonal `Q` (QR of a Gaussian matrix, signs fixed so the draw is
  uniform) is decomposed with partial pivoting as `Q = P @ L @ U`, L unit lower
  triangular, U upper triangular.

  Args:
    num_channels: Python `int` C.
    seed: Python `int` or sequence of ints for `np.random.default_rng`.

  Returns:
    Tuple `(permutation, lower, upper)` of `[C, C]` float64 arrays.
  """
  rng = np.random.default_rng(seed)
  q, r = np.linalg.qr(rng.standard_normal((num_channels, num_channels)))
  q = q * np.sign(np.diag(r))
  # Doolittle LU with partial pivoting: rows of `a` are permuted by `perm`
  # so that a[perm] = L @ U; then Q = P @ L @ U with P = I[:, perm] ordering.
  a = q.copy()
  n = num_channels
  perm = np.arange(n)
  lower = np.eye(n)
  for k in range(n):
    pivot = k + int(np.argmax(np.abs(a[k:, k])))
    if pivot != k:
      a[[k, pivot]] = a[[pivot, k]]
      perm[[k, pivot]] = perm[[pivot, k]]
      lower[[k, pivot], :k] = lower[[pivot, k], :k]
    for i in range(k + 1, n):
      lower[i, k] = a[i, k] / a[k, k]
      a[i, k:] -= lower[i, k] * a[k, k:]
  upper = np.triu(a)
  permutation = np.zeros((n, n))
  permutation[perm, np.arange(n)] = 1.
  return permutation, lower, upper


class InvertibleConv1x1(identity_hashing.IdentityHashed,
                        _shapes.ChannelPreservingEventShape, tfb.Bijector):
  """Invertible 1x1 convolution (channel mixing) with an LU-parameterised kernel.

  On event shape `[H, W, C]`, with `W = P @ L @ (U + diag(sign_s * exp(log_abs_s)))`:

  ```none
  forward:  y[..., i, j, :] = x[..., i, j, :] @ W
  inverse:  x[..., i, j, :] = y[..., i, j, :] @ W^-1
  forward_log_det_jacobian = H * W * sum(log_abs_s)        (nats)
  ```

  P (a permutation) and sign_s are fixed at construction; L (unit lower
  triangular), U (strictly upper triangular) and log|s| are learned. The
  kernel starts as a random rotation, so the log-det starts at zero. The
  Jacobian does not depend on `x` (`is_constant_jacobian=True`, as for
  `tfb.ScaleMatvecLU`), only on the variables.

  #### References
  [1]: Kingma & Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, num_channels, seed=0, validate_args=False,
               dtype=tf.float32, name='invertible_conv1x1'):
    """Builds the bijector.

    Args:
      num_channels: Python `int`, channel count C.
      seed: Python `int` (or sequence of ints) for the random rotation.
        Default value: `0`.
      validate_args: Python `bool`. When `True`, every call first asserts
        (at run time, so also inside a `tf.function`) that `lower` and
        `upper` are finite and that the diagonal of U, `sign_s *
        exp(log_abs_s)`, is finite and non-zero (W is singular otherwise);
        a failure raises `tf.errors.InvalidArgumentError`. Shape errors
        (channel count, event rank) are static and raise `ValueError`
        whatever this flag. When `False` (default) no assertion ops are
        built.
      dtype: float dtype.
      name: Python `str`.
    """
    parameters = dict(locals())
    num_channels = positive_int(num_channels, 'num_channels')
    with tf.name_scope(name) as name:
      self._num_channels = num_channels
      permutation, lower, upper = random_rotation_lu(num_channels, seed)
      s = np.diag(upper)
      self._permutation = tf.constant(permutation, dtype)
      self._sign_s = tf.constant(np.sign(s), dtype)
      self._lower_mask = tf.constant(np.tril(np.ones_like(lower), -1), dtype)
      self._upper_mask = tf.constant(np.triu(np.ones_like(upper), 1), dtype)
      self._eye = tf.eye(num_channels, dtype=dtype)
      self._lower = tf.Variable(np.tril(lower, -1).astype(dtype.as_numpy_dtype),
                                name='lower')
      self._upper = tf.Variable(np.triu(upper, 1).astype(dtype.as_numpy_dtype),
                                name='upper')
      self._log_abs_s = tf.Variable(
          np.log(np.abs(s)).astype(dtype.as_numpy_dtype), name='log_abs_s')
      super().__init__(
          forward_min_event_ndims=3, is_constant_jacobian=True,
          validate_args=validate_args, parameters=parameters, dtype=dtype,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict()

  def _parameter_control_dependencies(self, is_init):
    # The LU factors are variables, changed by training: check them on every
    # call, never once at construction (TFP's rule for variable parameters).
    if not self.validate_args or is_init:
      return []
    return (_validation.assert_finite(
        [self._lower, self._upper],
        f'{self.name}: the LU factors `lower`/`upper` are not finite')
            + _validation.assert_invertible_log_scale(
                self._log_abs_s,
                f'{self.name}: `log_abs_s` (log |diagonal of U|)'))

  @property
  def num_channels(self):
    return self._num_channels

  def _factors(self):
    lower = self._lower * self._lower_mask + self._eye
    upper = (self._upper * self._upper_mask
             + tf.linalg.diag(self._sign_s * tf.exp(self._log_abs_s)))
    return lower, upper

  def kernel(self):
    """The `[C, C]` mixing matrix W."""
    lower, upper = self._factors()
    return tf.matmul(self._permutation, tf.matmul(lower, upper))

  def inverse_kernel(self):
    """`W^-1 = U^-1 @ L^-1 @ P^T`, by triangular solves (no general inverse)."""
    lower, upper = self._factors()
    lower_inv = tf.linalg.triangular_solve(lower, self._eye, lower=True)
    upper_inv = tf.linalg.triangular_solve(upper, self._eye, lower=False)
    return tf.matmul(upper_inv, tf.matmul(lower_inv, self._permutation,
                                          transpose_b=True))

  def _mix(self, x, kernel):
    _shapes.check_channels(x, self._num_channels, self.name)
    flat = tf.reshape(x, [-1, self._num_channels])
    mixed = tf.reshape(tf.matmul(flat, kernel), tf.shape(x))
    mixed.set_shape(x.shape)
    return mixed

  def _forward(self, x):
    return self._mix(x, self.kernel())

  def _inverse(self, y):
    return self._mix(y, self.inverse_kernel())

  def _forward_log_det_jacobian(self, x):
    height, width, _ = _shapes.static_event_shape(x)
    ldj = float(height * width) * tf.reduce_sum(self._log_abs_s)
    return ldj + _shapes.zeros_for_batch(x, ldj.dtype)
