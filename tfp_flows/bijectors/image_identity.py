"""Identity on image events, with the event rank of the other image bijectors."""

from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors import _shapes
from tfp_flows.bijectors import identity_hashing

__all__ = ['ImageIdentity']


class ImageIdentity(identity_hashing.IdentityHashed, tfb.Bijector):
  """`y = x` on event shape `[H, W, C]` (`forward_min_event_ndims=3`).

  `tfb.Identity` has scalar events; inside a `tfb.JointMap` next to a
  rank-3 bijector, TFP's event-rank bookkeeping needs both parts to have the
  same minimum event rank, which this provides.
  """

  def __init__(self, validate_args=False, name='image_identity'):
    """Builds the bijector.

    Args:
      validate_args: Python `bool`, accepted for TFP compatibility. There is
        nothing to validate: every tensor is a valid input and the map is
        trivially invertible (TFP itself checks `event_ndims` against the
        minimum event rank 3 in the log-det methods).
      name: Python `str`.
    """
    parameters = dict(locals())
    super().__init__(forward_min_event_ndims=3, is_constant_jacobian=True,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict()

  def _forward(self, x):
    return x

  def _inverse(self, y):
    return y

  def _forward_log_det_jacobian(self, x):
    return _shapes.zeros_for_batch(x, x.dtype)
