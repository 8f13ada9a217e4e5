"""Image density models with one interface (see `base.ImageDensityModel`)."""

from tfp_flows.models.base import ImageDensityModel
from tfp_flows.models.discrete import bits_per_dim
from tfp_flows.models.glow import build_glow_bijector
from tfp_flows.models.glow import Glow
from tfp_flows.models.loading import load
from tfp_flows.models.pixelcnn import PixelCNN

__all__ = ['Glow', 'ImageDensityModel', 'PixelCNN', 'bits_per_dim',
           'build_glow_bijector', 'load']
