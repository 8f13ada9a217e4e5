"""Multi-scale factor-out: a learned conditional Gaussian as a bijector."""

import tensorflow as tf

from tfp_flows.bijectors import conditioners
from tfp_flows.bijectors.coupling import ChannelCoupling
from tfp_flows.bijectors.coupling import check_coupling_channels

__all__ = ['GaussianFactorOut']


class GaussianFactorOut(ChannelCoupling):
  """Standardises the channels that leave a Glow level, given those that stay.

  On event shape `[H, W, C]` the first `C//2` channels `h` stay in the flow
  and the last `C - C//2` channels `z` leave as this level's latent. Glow
  models `z ~ N(mu(h), exp(log_sigma(h))^2)`; written as a bijector to a
  standard normal:

  ```none
  inverse (normalising):  eps = (z - mu(h)) * exp(-log_sigma(h))
  forward (generative):   z = mu(h) + exp(log_sigma(h)) * eps
  forward_log_det_jacobian = sum(log_sigma(h))                 (nats)
  ```

  so the model's base distribution stays a plain standard normal. The default
  conditioner is a zero-initialised 3x3 conv, so the prior starts as N(0, 1).

  The split sizes are `[C//2, C - C//2]` (kept, leaving); the conditioner
  must return `[N, H, W, 2 * (C - C//2)]` (`[mu, log_sigma]`). Both are
  checked statically (`ValueError`), as is the input's channel count.
  """

  def __init__(self, num_channels, conditioner_fn=None, validate_args=False,
               dtype=tf.float32, name='gaussian_factor_out'):
    """Builds the bijector.

    Args:
      num_channels: Python `int` C >= 2 (channels before the split).
      conditioner_fn: factory `(input_channels, output_channels, name) ->
        callable` giving `[mu, log_sigma]`. Default value:
        `zero_conv_factory()` (Glow's `conv2d_zeros` prior).
      validate_args: Python `bool`. When `True`, every call asserts at run
        time that the prior's output has the input's batch and spatial size
        and that `mu` and `log_sigma` are finite with `exp(+-log_sigma)`
        finite and non-zero (not invertible otherwise); a failure raises
        `tf.errors.InvalidArgumentError`. Default value: `False` (no
        assertion ops).
      dtype: float dtype.
      name: Python `str`.
    """
    parameters = dict(locals())
    num_channels = check_coupling_channels(num_channels)
    if conditioner_fn is None:
      conditioner_fn = conditioners.zero_conv_factory(dtype=dtype)
    if not callable(conditioner_fn):
      raise TypeError('`conditioner_fn` must be a callable factory; got '
                      f'{conditioner_fn!r}.')
    with tf.name_scope(name) as name:
      transformed = num_channels - num_channels // 2
      conditioner = conditioner_fn(num_channels // 2, 2 * transformed,
                                   name='prior')
      super().__init__(num_channels, conditioner, validate_args, parameters,
                       dtype, name)

  def _shift_and_log_scale(self, conditioning):
    mu, log_sigma = tf.split(
        self._run_conditioner(conditioning, 2 * self.num_transformed), 2,
        axis=-1)
    return mu, -log_sigma
