"""The likelihood-ratio score (Ren et al., NeurIPS 2019).

`log p_model(x) - log p_background(x)`, where the background model is
trained like the model but on mutated images (`train.mutation_rate`,
`train.l2_weight`; `tfp_flows.training.mutation`), so that it captures the
local pixel statistics both share and the ratio keeps what is specific to
the data set. As an OoD score (higher = more OoD) it is written in
bits/dim:

  score(x) = bpd_model(x) - bpd_background(x)
           = -(log p_model(x) - log p_background(x)) / (D ln 2).
"""

import numpy as np

__all__ = ['check_background', 'likelihood_ratio', 'likelihood_ratio_map']


def check_background(model, background):
  """Raises ValueError unless `background` can be `model`'s background.

  Both must take the same image shape, and the background must have been
  trained on the model's own data set: a ratio against a model of another
  data set measures the difference between two data sets, not the local
  statistics the score is meant to cancel.

  Args:
    model, background: `ImageDensityModel`s as `models.load` returns them
      (with `training_dataset`; `model_dir` names them in the error).
  """
  if list(model.image_shape) != list(background.image_shape):
    raise ValueError(
        f'The background model {_name(background)} takes images of shape '
        f'{list(background.image_shape)}, the model {_name(model)} '
        f'{list(model.image_shape)}.')
  own = getattr(model, 'training_dataset', None)
  theirs = getattr(background, 'training_dataset', None)
  if own is None or theirs is None:
    raise ValueError('Both models need a `training_dataset` (load them with '
                     '`tfp_flows.models.load`).')
  if own != theirs:
    raise ValueError(
        f'The background model {_name(background)} was trained on {theirs}, '
        f'the model {_name(model)} on {own}: a background model must be '
        "trained on the model's own data set (with mutation).")


def likelihood_ratio(model_bits_per_dim, background_bits_per_dim):
  """The likelihood-ratio OoD score from both models' bits/dim.

  Args:
    model_bits_per_dim: float array `[N]`, bits/dim under the model.
    background_bits_per_dim: float array `[N]`, bits/dim of the same images,
      in the same order, under its background model.

  Returns:
    float64 `[N]`: model minus background bits/dim (higher = more OoD).
  """
  model_bpd = np.asarray(model_bits_per_dim, np.float64)
  background_bpd = np.asarray(background_bits_per_dim, np.float64)
  if model_bpd.ndim != 1 or model_bpd.shape != background_bpd.shape:
    raise ValueError(
        'Model and background bits/dim must be 1-D arrays of the same '
        f'images; got shapes {model_bpd.shape} and {background_bpd.shape}.')
  return model_bpd - background_bpd


def likelihood_ratio_map(model_pixel_log_probs, background_pixel_log_probs,
                         num_subpixels):
  """Where in an image the likelihood-ratio score comes from.

  Args:
    model_pixel_log_probs: float array `[..., H, W]`, each pixel's
      conditional log-probability under the model, nats
      (`PixelCNN.pixel_log_probs`).
    background_pixel_log_probs: the same under the background model.
    num_subpixels: `D = H * W * C` of the images.

  Returns:
    float64 `[..., H, W]`: each pixel's share of the score, in bits/dim, so
    that summed over H and W it is `likelihood_ratio` of the two models'
    bits/dim (higher = more OoD).
  """
  model_terms = np.asarray(model_pixel_log_probs, np.float64)
  background_terms = np.asarray(background_pixel_log_probs, np.float64)
  if model_terms.shape != background_terms.shape or model_terms.ndim < 2:
    raise ValueError(
        'Model and background per-pixel log-probabilities must be arrays '
        '[..., H, W] of the same images; got shapes '
        f'{model_terms.shape} and {background_terms.shape}.')
  return (background_terms - model_terms) / (num_subpixels * np.log(2.))


def _name(model):
  return repr(getattr(model, 'model_dir', type(model).__name__))
