"""Image bijectors (event shape [H, W, C]) that compose into Glow."""

from tfp_flows.bijectors.actnorm import ActNorm
from tfp_flows.bijectors.actnorm import data_dependent_init
from tfp_flows.bijectors.conditioners import GlowConditioner
from tfp_flows.bijectors.conditioners import glow_conditioner_factory
from tfp_flows.bijectors.conditioners import ZeroConv2D
from tfp_flows.bijectors.conditioners import zero_conv_factory
from tfp_flows.bijectors.coupling import AffineCoupling
from tfp_flows.bijectors.factor_out import GaussianFactorOut
from tfp_flows.bijectors.identity_hashing import Chain
from tfp_flows.bijectors.identity_hashing import Invert
from tfp_flows.bijectors.identity_hashing import JointMap
from tfp_flows.bijectors.image_identity import ImageIdentity
from tfp_flows.bijectors.invertible_conv1x1 import InvertibleConv1x1
from tfp_flows.bijectors.squeeze import Squeeze

__all__ = [
    'ActNorm',
    'AffineCoupling',
    'Chain',
    'GaussianFactorOut',
    'GlowConditioner',
    'ImageIdentity',
    'Invert',
    'InvertibleConv1x1',
    'JointMap',
    'Squeeze',
    'ZeroConv2D',
    'data_dependent_init',
    'glow_conditioner_factory',
    'zero_conv_factory',
]
