"""The interface every image density model in tfp_flows implements."""

import abc

from tfp_flows.models import discrete

__all__ = ['ImageDensityModel']


class ImageDensityModel(abc.ABC):
  """A density over integer-valued images `[H, W, C]` with `n_bits` per subpixel.

  Units: `log_prob` is the discrete log-likelihood in nats per image;
  `log_density` is a continuous log-density in nats per image w.r.t.
  Lebesgue measure on `[0, 1]^D`; `bits_per_dim` converts `log_prob` with
  `discrete.bits_per_dim`, the single place that conversion lives.
  """

  @property
  @abc.abstractmethod
  def image_shape(self):
    """`[H, W, C]` of the images the model takes."""

  @property
  @abc.abstractmethod
  def n_bits(self):
    """Bits per subpixel; values are in `[0, 2**n_bits - 1]`."""

  @property
  def num_subpixels(self):
    """D = H * W * C of an input image: the denominator of bits/dim."""
    height, width, channels = self.image_shape
    return height * width * channels

  @property
  def num_model_subpixels(self):
    """D' of the model's own input (after any padding): the denominator of
    bits/dim per model pixel (`discrete`'s two definitions). D' = D here;
    a padding model overrides it."""
    return self.num_subpixels

  @abc.abstractmethod
  def log_prob(self, images, seed=None):
    """Discrete log-likelihood, nats per image, shape `images.shape[:-3]`."""

  @abc.abstractmethod
  def log_density(self, y):
    """Continuous log-density at `y` in `[0, 1]`, nats per image."""

  @abc.abstractmethod
  def sample(self, n, seed=None):
    """`n` images, uint8 `[n, H, W, C]`."""

  def bits_per_dim(self, images, seed=None, **kwargs):
    """`-log_prob / (D ln 2)`: bits per subpixel of each image (float32)."""
    return discrete.bits_per_dim(self.log_prob(images, seed=seed, **kwargs),
                                 self.num_subpixels)

  @property
  def per_model_pixel_factor(self):
    """`D / D'`: bits/dim times this is bits/dim per model pixel."""
    return discrete.per_model_pixel_factor(self.num_subpixels,
                                           self.num_model_subpixels)
