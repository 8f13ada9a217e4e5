"""Semantic-invariant transformations: exact outputs, randomness, errors.

Expected values are recomputed independently (explicit loops, the same
per-image random generators) rather than by calling the code under test.
One tiny Glow (8x8, two levels, one step) is shared by the ZeroLatents tests.
"""

import json
import math
import re

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows import sits
from tfp_flows.models import Glow
from tfp_flows.models import PixelCNN
from tfp_flows.sits import zero_latents


def _random_images(shape, seed=0, low=0, high=256):
  return np.random.default_rng(seed).integers(low, high, shape).astype(
      np.uint8)


@pytest.fixture(scope='module')
def real_images():
  images, _ = data.load('fashion_mnist', 'test', num_examples=16)
  return images


def _perturbed_glow(num_levels, seed):
  """Tiny 8x8 Glow with weights moved off their (identity-like) initial
  values, so that transformations through it are not trivial."""
  model = Glow(image_shape=(8, 8, 1), num_levels=num_levels,
               num_steps_per_level=1, hidden_channels=8, seed=seed)
  model.initialize(_random_images((16, 8, 8, 1), seed=1 + 3 * seed))
  rng = np.random.default_rng(seed)
  for v in model.trainable_variables:
    v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
  return model


@pytest.fixture(scope='module')
def glow():
  """2 levels (8 -> 4 -> 2): zero <= 1 only."""
  return _perturbed_glow(num_levels=2, seed=0)


@pytest.fixture(scope='module')
def glow3():
  """3 levels (8 -> 4 -> 2 -> 1), the depth the paper's k = 2 needs."""
  return _perturbed_glow(num_levels=3, seed=1)


# ---------------------------------------------------------- continuous scale


def test_to_continuous_is_the_bin_centre_and_from_continuous_inverts_it():
  x = np.array([0, 1, 254, 255], np.uint8)
  y = sits.to_continuous(x)
  assert y.dtype == np.float32
  np.testing.assert_array_equal(y, np.array([0.5, 1.5, 254.5, 255.5]) / 256)
  np.testing.assert_array_equal(sits.from_continuous(y), x)
  np.testing.assert_array_equal(sits.to_continuous(x, offset=0.), x / 256)
  np.testing.assert_array_equal(
      sits.from_continuous(sits.to_continuous(x, 0.25), offset=0.25), x)
  assert sits.CONTINUOUS_OFFSET == 0.5
  with pytest.raises(ValueError, match='`offset`'):
    sits.to_continuous(x, offset=1.)
  with pytest.raises(TypeError, match='uint8'):
    sits.to_continuous(x.astype(np.int32))


# ----------------------------------------------------------------- Translate


def test_translate_hand_example():
  row = np.array([1, 2, 3], np.uint8).reshape(1, 1, 3, 1)
  expected = {'zeros': [2, 3, 0], 'wrap': [2, 3, 1], 'edge': [2, 3, 3]}
  for fill, values in expected.items():
    out = sits.Translate(dx=-1, fill=fill)(row)
    np.testing.assert_array_equal(out.ravel(), values, err_msg=fill)
  out = sits.Translate(dx=2, fill='zeros')(row)
  np.testing.assert_array_equal(out.ravel(), [0, 0, 1])
  column = row.reshape(1, 3, 1, 1)
  np.testing.assert_array_equal(
      sits.Translate(dx=0, dy=1, fill='edge')(column).ravel(), [1, 1, 2])
  np.testing.assert_array_equal(
      sits.Translate(dx=0, dy=-1, fill='wrap')(column).ravel(), [2, 3, 1])


def _translate_reference(x, dx, dy, fill):
  """out[r, c] = x[r - dy, c - dx], filled outside, by explicit loops."""
  _, height, width, _ = x.shape
  out = np.zeros_like(x)
  for r in range(height):
    for c in range(width):
      rs, cs = r - dy, c - dx
      if fill == 'wrap':
        rs, cs = rs % height, cs % width
      elif fill == 'edge':
        rs, cs = min(max(rs, 0), height - 1), min(max(cs, 0), width - 1)
      elif not (0 <= rs < height and 0 <= cs < width):
        continue
      out[:, r, c, :] = x[:, rs, cs, :]
  return out


@pytest.mark.parametrize('fill', ['zeros', 'wrap', 'edge'])
@pytest.mark.parametrize('dx,dy', [(-1, 0), (1, 0), (0, -1), (0, 1), (-2, 0),
                                   (3, -2), (0, 0)])
def test_translate_matches_reference(fill, dx, dy):
  x = _random_images((2, 5, 6, 3), seed=(dx + 5) * 10 + dy + 5)
  sit = sits.Translate(dx=dx, dy=dy, fill=fill)
  out = sit(x)
  assert out.dtype == np.uint8 and out.shape == x.shape
  np.testing.assert_array_equal(out, _translate_reference(x, dx, dy, fill))
  assert sit.kind == 'discrete' and not sit.needs_flow


def test_translate_real_images_left(real_images):
  x = real_images
  out = sits.Translate(-1)(x)
  np.testing.assert_array_equal(out[:, :, :-1], x[:, :, 1:])
  assert np.all(out[:, :, -1] == 0)
  assert not np.array_equal(out, x)


def test_translate_shift_must_be_smaller_than_image():
  x = _random_images((1, 4, 5, 1))
  sits.Translate(dx=-4, dy=3)(x)  # Largest allowed shifts.
  with pytest.raises(ValueError, match='`dx`'):
    sits.Translate(dx=-5)(x)
  with pytest.raises(ValueError, match='`dy`'):
    sits.Translate(dx=0, dy=4, fill='wrap')(x)


# ------------------------------------------------------------- DiscreteNoise


def _discrete_reference(x, k, mask, seed, indices):
  out = np.empty_like(x)
  for i, index in enumerate(indices):
    rng = np.random.default_rng([seed, index])
    n = rng.integers(-k, k + 1, size=x.shape[1:])
    m = (x[i] / 255. < 0.3) if mask == 'background' else 1
    out[i] = np.clip(x[i].astype(np.int64) + m * n, 0, 255)
  return out


@pytest.mark.parametrize('mask', ['all', 'background'])
@pytest.mark.parametrize('k', [1, 2, 4])
def test_discrete_noise_matches_reference_with_clipping(k, mask):
  # Include the extremes so that clipping happens.
  x = _random_images((4, 8, 8, 1), seed=k)
  x[0, 0] = 0
  x[0, 1] = 255
  out = sits.DiscreteNoise(k=k, mask=mask)(x, seed=3)
  assert out.dtype == np.uint8 and out.shape == x.shape
  np.testing.assert_array_equal(
      out, _discrete_reference(x, k, mask, 3, range(4)))


def test_discrete_noise_stays_within_k_and_uses_every_value():
  k = 2
  x = _random_images((5, 8, 8, 1), seed=4, low=k, high=256 - k)  # No clipping.
  delta = sits.DiscreteNoise(k=k)(x, seed=0).astype(np.int64) - x
  assert np.abs(delta).max() <= k
  values, counts = np.unique(delta, return_counts=True)
  np.testing.assert_array_equal(values, np.arange(-k, k + 1))
  # 320 draws, 64 expected per value.
  assert counts.min() > 30 and counts.max() < 100


def test_discrete_noise_background_mask(real_images):
  x = real_images
  background = x / 255. < 0.3
  masked = sits.DiscreteNoise(k=4, mask='background')(x, seed=1)
  everywhere = sits.DiscreteNoise(k=4, mask='all')(x, seed=1)
  np.testing.assert_array_equal(masked[~background], x[~background])
  assert np.any(masked[background] != x[background])
  # The same draws: the mask only decides where they apply.
  np.testing.assert_array_equal(masked[background], everywhere[background])
  assert np.any(everywhere[~background] != x[~background])


@pytest.mark.parametrize('sit', [sits.DiscreteNoise(k=3),
                                 sits.ContinuousNoise(eps=0.01)])
def test_noise_is_reproducible_and_independent_of_subsetting(sit):
  x = _random_images((6, 4, 4, 2), seed=5)
  full = sit(x, seed=7)
  np.testing.assert_array_equal(sit(x, seed=7), full)
  assert not np.array_equal(sit(x, seed=8), full)
  perm = np.array([4, 0, 5, 2, 1, 3])
  np.testing.assert_array_equal(sit(x[perm], seed=7, indices=perm),
                                full[perm])
  np.testing.assert_array_equal(
      sit(x[2:5], seed=7, indices=[2, 3, 4], batch_size=1), full[2:5])
  # Identical images with different indices get different noise.
  same = np.repeat(x[:1], 2, axis=0)
  out = sit(same, seed=7)
  assert not np.array_equal(out[0], out[1])


# ----------------------------------------------------------- ContinuousNoise


def _continuous_noise(rng, distribution, shape):
  if distribution == 'normal':
    return rng.standard_normal(shape)
  if distribution == 'normal_shifted':
    return 1. / 256 + rng.standard_normal(shape)
  return rng.uniform(-1. / 256, 0., shape)


@pytest.mark.parametrize('placement,offset', [('edge', 0.), ('centre', 0.5)])
@pytest.mark.parametrize('mask', ['all', 'background'])
@pytest.mark.parametrize('distribution',
                         ['normal', 'normal_shifted', 'uniform_negative'])
def test_continuous_noise_matches_formula(distribution, mask, placement,
                                          offset, real_images):
  x = real_images[:5]
  eps, seed, indices = 0.001, 11, np.array([3, 9, 0, 100, 4])
  sit = sits.ContinuousNoise(eps, distribution, mask, placement)
  assert sit.offset == offset
  out = sit(x, seed=seed, indices=indices)
  assert out.dtype == np.float32 and out.shape == x.shape
  expected = np.empty(x.shape, np.float64)
  for i, index in enumerate(indices):
    n = _continuous_noise(np.random.default_rng([seed, index]), distribution,
                          x.shape[1:])
    m = (x[i] / 255. < 0.3) if mask == 'background' else np.ones(x.shape[1:])
    expected[i] = (x[i] + offset) / 256 + eps * m * n
  np.testing.assert_array_equal(out, expected.astype(np.float32))
  # The same in terms of the public helper, up to float32 round-off.
  np.testing.assert_allclose(out, sits.to_continuous(x, offset) + (
      expected - (x + offset) / 256), rtol=0, atol=1e-7)
  delta = out.astype(np.float64) - sits.to_continuous(x, offset)
  if mask == 'background':
    foreground = x / 255. >= 0.3
    assert np.all(delta[foreground] == 0)
    assert np.any(delta[~foreground] != 0)
  if distribution == 'uniform_negative':
    # (x + offset) / 256 is exact in float32 and n <= 0: rounding stays
    # below.
    assert delta.max() <= 0 and delta.min() >= -eps / 256 - 1e-7


def test_continuous_noise_placement_and_zero_eps():
  x = _random_images((2, 3, 3, 1))
  # The paper's placement, the default: the bin's lower edge x / 256.
  np.testing.assert_array_equal(sits.ContinuousNoise(eps=0.)(x), x / 256.)
  out = sits.ContinuousNoise(eps=0., placement='centre')(x)
  np.testing.assert_array_equal(out, sits.to_continuous(x))
  assert sits.ContinuousNoise().name == 'noise_normal_eps0.001_all_edge'
  sit = sits.ContinuousNoise(placement='centre')
  assert sit.name == 'noise_normal_eps0.001_all_centre'
  assert sits.get(sit.name).config() == sit.config()
  with pytest.raises(ValueError, match='not the name of a SIT'):
    sits.get('noise_normal_eps0.001_all')   # no placement: ambiguous


def test_bin_edge_noise_by_hand():
  """The paper's eq. 6 at the bin edge, written out for a 2x2 image."""
  x = np.array([[0, 10], [200, 255]], np.uint8).reshape(1, 2, 2, 1)
  seed, index, eps = 5, 7, 0.001
  n = np.random.default_rng([seed, index]).standard_normal((2, 2, 1))
  out = sits.ContinuousNoise(eps, 'normal', 'background')(
      x, seed=seed, indices=np.array([index]))
  # Background: x / 255 < 0.3, i.e. the pixels 0 and 10 only.
  expected = np.array([[0 / 256 + eps * n[0, 0, 0], 10 / 256 + eps * n[0, 1, 0]],
                       [200 / 256, 255 / 256]])
  # Computed in float64, rounded once to float32.
  np.testing.assert_array_equal(out[0, ..., 0], expected.astype(np.float32))
  # A negative draw on the black pixel goes below 0: outside the training
  # support [0, 1/256) of its bin (the paper's explanation).
  shifted = sits.ContinuousNoise(eps, 'normal_shifted', 'all')(
      x, seed=seed, indices=np.array([index]))
  np.testing.assert_array_equal(
      shifted[0, ..., 0],
      (x[0, ..., 0] / 256 + eps * (n[..., 0] + 1 / 256)).astype(np.float32))
  uniform = sits.ContinuousNoise(eps, 'uniform_negative', 'all')(x)
  assert np.all(uniform <= x / 256) and np.all(uniform > x / 256 - eps / 256
                                                - 1e-9)


# ------------------------------------------------------- Glow and ZeroLatents


def test_glow_encode_without_dequantisation_is_the_bin_centre(glow):
  x = _random_images((3, 8, 8, 1), seed=2)
  centre = glow.encode(x, dequantize=False)
  again = glow.encode(x, seed=5, dequantize=False)
  for a, b in zip(centre, again):
    np.testing.assert_array_equal(a, b)
  noisy = glow.encode(x, seed=5)
  assert not np.allclose(centre[0], noisy[0])
  np.testing.assert_allclose(glow.decode(centre), x + 0.5, atol=1e-2)
  # The compiled-function cache holds the new key.
  assert glow._compiled.get('encode_centre') is not None  # pylint: disable=protected-access
  with pytest.raises(TypeError, match='`dequantize`'):
    glow.encode(x, dequantize='no')


@pytest.mark.parametrize('k', [0, 1, 2])
def test_zero_latents_changes_only_levels_up_to_k(glow3, k):
  x = _random_images((5, 8, 8, 1), seed=3)
  sit = sits.ZeroLatents(k)
  original, zeroed = sit.latents(x, glow3, batch_size=2)
  assert len(original) == len(zeroed) == glow3.num_levels == 3
  for level in range(glow3.num_levels):
    assert original[level].shape == (5, *glow3.latent_shapes[level])
    assert np.any(original[level] != 0)
    if level < k:
      assert np.all(zeroed[level] == 0)
    else:
      np.testing.assert_array_equal(zeroed[level], original[level])
  # Nothing zeroed: decode(encode(x)) is x's bin centre, i.e. x.
  np.testing.assert_allclose(glow3.decode(original), x + 0.5, rtol=0,
                             atol=1e-3)
  out = sit(x, model=glow3)
  np.testing.assert_allclose(out, np.asarray(glow3.decode(zeroed)) / 256,
                             rtol=0, atol=1e-6)
  if k == 0:
    np.testing.assert_array_equal(sits.ZeroLatents(0, 'quantised')(
        x, model=glow3), x)
  else:
    assert np.abs(out - sits.to_continuous(x)).max() > 1e-2


def test_zero_latents_output_is_the_decoded_zeroed_latents(glow):
  x = _random_images((5, 8, 8, 1), seed=3)
  continuous = sits.ZeroLatents(1, 'continuous')
  quantised = sits.ZeroLatents(1, 'quantised')
  assert continuous.kind == 'continuous' and quantised.kind == 'discrete'
  assert continuous.needs_flow and quantised.needs_flow
  _, zeroed = continuous.latents(x, glow)
  decoded = np.asarray(glow.decode(zeroed), np.float64)
  y = continuous(x, model=glow)
  assert y.dtype == np.float32 and y.shape == x.shape
  np.testing.assert_allclose(y, decoded / 256, atol=1e-6)
  q = quantised(x, model=glow)
  assert q.dtype == np.uint8 and q.shape == x.shape
  np.testing.assert_array_equal(q, np.clip(np.floor(decoded), 0, 255))
  # Zeroing the finest level really moves the image.
  assert np.abs(y - sits.to_continuous(x)).max() > 1e-2
  # Batching does not matter.
  np.testing.assert_allclose(continuous(x, model=glow, batch_size=2), y,
                             atol=1e-5)


def test_zero_latents_variants_share_one_decode_until_weights_change(
    glow, monkeypatch):
  x = _random_images((4, 8, 8, 1), seed=8)
  calls = []
  decode = glow.decode

  def counting_decode(latents):
    calls.append(1)
    return decode(latents)
  monkeypatch.setattr(glow, 'decode', counting_decode)
  continuous = sits.ZeroLatents(1, 'continuous')(x, model=glow)
  calls_first = len(calls)
  quantised = sits.ZeroLatents(1, 'quantised')(x, model=glow)
  assert calls_first >= 1 and len(calls) == calls_first  # shared
  np.testing.assert_array_equal(
      quantised, np.clip(np.floor(continuous.astype(np.float64) * 256), 0,
                         255))
  sits.ZeroLatents(0, 'continuous')(x, model=glow)  # another k: decodes
  assert len(calls) == 2 * calls_first
  variable = glow.trainable_variables[-1]
  saved = variable.numpy()
  try:
    variable.assign(saved + 0.01)  # new weights: decodes again
    moved = sits.ZeroLatents(1, 'continuous')(x, model=glow)
    assert len(calls) == 3 * calls_first
    assert np.abs(moved - continuous).max() > 0
  finally:
    variable.assign(saved)


def test_zero_latents_k0_is_the_identity(glow):
  x = _random_images((4, 8, 8, 1), seed=6)
  y = sits.ZeroLatents(0, 'continuous')(x, model=glow)
  np.testing.assert_allclose(y, sits.to_continuous(x), rtol=0, atol=1e-3)
  np.testing.assert_array_equal(sits.ZeroLatents(0, 'quantised')(x, model=glow),
                                x)


def test_zero_latents_rejects_models_that_are_not_glow(glow):
  x = _random_images((2, 2, 2, 1))
  sit = sits.ZeroLatents(1)
  with pytest.raises(TypeError, match='needs a multi-scale Glow.*got None'):
    sit(x)
  with pytest.raises(TypeError, match='got object'):
    sit(x, model=object())
  pixelcnn = PixelCNN(image_shape=(2, 2, 1), num_hierarchies=1, n_bits=2,
                      num_resnet=1, num_filters=8, num_logistic_mix=2)
  with pytest.raises(TypeError, match='ZeroLatents needs a multi-scale Glow.*'
                     'got PixelCNN'):
    sit(x, model=pixelcnn)
  with pytest.raises(TypeError, match='got PixelCNN'):
    sit.latents(x, pixelcnn)
  x8 = _random_images((2, 8, 8, 1))
  for k in (2, 3):
    with pytest.raises(ValueError, match=r'`k` \(%d\) must be less than .* '
                       'levels L = 2' % k):
      sits.ZeroLatents(k)(x8, model=glow)
  with pytest.raises(ValueError, match='`images`'):
    sit(_random_images((2, 4, 4, 1)), model=glow)


# -------------------------------------------------------------- pixel_change


def test_pixel_change_hand_example():
  before = np.array([[[0, 10], [20, 30]], [[5, 6], [7, 8]]],
                    np.uint8)[..., None]
  after = before.copy()
  after[0] = np.array([[1, 8], [20, 33]])[..., None]
  change = sits.pixel_change(before, after)
  assert change['mean_abs'].dtype == np.float64
  assert change['psnr'].dtype == np.float64
  np.testing.assert_allclose(change['mean_abs'], [1.5, 0.])  # (1+2+0+3)/4
  mse = (1 + 4 + 0 + 9) / 4
  np.testing.assert_allclose(change['psnr'][0], 10 * math.log10(255**2 / mse))
  assert change['psnr'][1] == np.inf
  # Continuous `after`: converted back with y * 256 - offset.
  continuous = sits.pixel_change(before, sits.to_continuous(after))
  np.testing.assert_allclose(continuous['mean_abs'], [1.5, 0.])
  assert continuous['psnr'][1] == np.inf
  quarter = sits.pixel_change(before, sits.to_continuous(before, 0.25),
                              offset=0.25)
  np.testing.assert_array_equal(quarter['psnr'], [np.inf, np.inf])
  shifted = sits.pixel_change(before, sits.to_continuous(before) + 1. / 256)
  np.testing.assert_allclose(shifted['mean_abs'], [1., 1.], rtol=1e-5)
  np.testing.assert_allclose(shifted['psnr'], 20 * math.log10(255), rtol=1e-5)


def test_pixel_change_errors():
  before = _random_images((2, 3, 3, 1))
  with pytest.raises(TypeError, match='`before`'):
    sits.pixel_change(before.astype(np.float32), before)
  with pytest.raises(ValueError, match='`after`'):
    sits.pixel_change(before, before[:1])
  with pytest.raises(TypeError, match='`after`'):
    sits.pixel_change(before, before.astype(np.int32))


# ------------------------------------------------------------------ Compose


def test_compose_applies_in_order_with_member_seeds():
  x = _random_images((3, 6, 6, 1), seed=8)
  translate, noise = sits.Translate(-1), sits.DiscreteNoise(k=2)
  sit = sits.Compose([translate, noise])
  assert sit.name == 'translate_dx-1_dy0_zeros+discrete_noise_k2_all'
  assert sit.kind == 'discrete' and not sit.needs_flow
  out = sit(x, seed=4)
  np.testing.assert_array_equal(
      out, noise(translate(x), seed=sits.member_seed(4, 1)))
  reverse = sits.Compose([noise, translate])(x, seed=4)
  assert not np.array_equal(reverse, out)
  np.testing.assert_array_equal(
      reverse, translate(noise(x, seed=sits.member_seed(4, 0))))
  # Two noise members draw different noise.
  one = sits.DiscreteNoise(k=1)
  twice = sits.Compose([one, one])(x, seed=4)
  seed0, seed1 = sits.member_seed(4, 0), sits.member_seed(4, 1)
  assert seed0 != seed1
  np.testing.assert_array_equal(twice, one(one(x, seed=seed0), seed=seed1))
  assert not np.array_equal(twice, one(one(x, seed=seed0), seed=seed0))


def test_compose_kind_and_errors():
  last_continuous = sits.Compose([sits.Translate(-1), sits.ContinuousNoise()])
  assert last_continuous.kind == 'continuous'
  assert last_continuous(_random_images((1, 4, 4, 1))).dtype == np.float32
  assert sits.Compose([sits.Translate(), sits.ZeroLatents()]).needs_flow
  with pytest.raises(ValueError, match=r'`sits\[0\]`.*continuous'):
    sits.Compose([sits.ContinuousNoise(), sits.Translate()])
  with pytest.raises(ValueError, match=r'`sits\[1\]`'):
    sits.Compose([sits.Translate(), sits.ZeroLatents(1, 'continuous'),
                  sits.Translate()])
  with pytest.raises(ValueError, match='`sits`'):
    sits.Compose([])
  with pytest.raises(TypeError, match=r'`sits\[1\]`'):
    sits.Compose([sits.Translate(), 'translate_dx-1_dy0_zeros'])
  with pytest.raises(TypeError, match='`sits`'):
    sits.Compose(sits.Translate())


# ---------------------------------------------------------- argument errors


@pytest.mark.parametrize('make,error,match', [
    (lambda: sits.Translate(dx=1.5), TypeError, '`dx` must be an integer'),
    (lambda: sits.Translate(dx=True), TypeError, '`dx`'),
    (lambda: sits.Translate(dy='1'), TypeError, '`dy`'),
    (lambda: sits.Translate(fill='reflect'), ValueError, '`fill`'),
    (lambda: sits.ContinuousNoise(eps=-0.1), ValueError, '`eps`'),
    (lambda: sits.ContinuousNoise(eps=float('nan')), ValueError, '`eps`'),
    (lambda: sits.ContinuousNoise(eps='0.1'), TypeError, '`eps`'),
    (lambda: sits.ContinuousNoise(distribution='laplace'), ValueError,
     '`distribution`'),
    (lambda: sits.ContinuousNoise(mask='foreground'), ValueError, '`mask`'),
    (lambda: sits.ContinuousNoise(placement='middle'), ValueError,
     '`placement` must be one of'),
    (lambda: sits.ContinuousNoise(placement=None), ValueError, '`placement`'),
    (lambda: sits.DiscreteNoise(k=0), ValueError, '`k`'),
    (lambda: sits.DiscreteNoise(k=1.), TypeError, '`k`'),
    (lambda: sits.DiscreteNoise(k=256), ValueError, '`k`'),
    (lambda: sits.DiscreteNoise(mask='none'), ValueError, '`mask`'),
    (lambda: sits.ZeroLatents(k=-1), ValueError, '`k`'),
    (lambda: sits.ZeroLatents(k=None), TypeError, '`k`'),
    (lambda: sits.ZeroLatents(output='float'), ValueError, '`output`'),
])
def test_constructor_errors_name_the_argument(make, error, match):
  with pytest.raises(error, match=match):
    make()


_X = _random_images((3, 4, 4, 1))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(images=_X.astype(np.float32)), TypeError, '`images`.*uint8.*float32'),
    (dict(images=_X.astype(np.int16)), TypeError, '`images`.*dtype int16'),
    (dict(images=_X[0]), ValueError, r'`images`.*shape \(4, 4, 1\)'),
    (dict(images=_X[:, :0]), ValueError, '`images`'),
    (dict(seed=-1), ValueError, '`seed`'),
    (dict(seed=1.5), TypeError, '`seed`'),
    (dict(indices=[0, 1]), ValueError, '`indices`'),
    (dict(indices=[0, -1, 2]), ValueError, '`indices`.*non-negative'),
    (dict(indices=[0., 1., 2.]), TypeError, '`indices`'),
    (dict(batch_size=0), ValueError, '`batch_size`'),
])
@pytest.mark.parametrize('sit', [sits.Translate(), sits.DiscreteNoise(),
                                 sits.ContinuousNoise()],
                         ids=lambda s: s.name)
def test_call_errors_name_the_argument(sit, kwargs, error, match):
  kwargs = dict(kwargs)
  images = kwargs.pop('images', _X)
  with pytest.raises(error, match=match):
    sit(images, **kwargs)


def test_empty_batch():
  empty = np.zeros([0, 4, 4, 1], np.uint8)
  for sit in (sits.Translate(), sits.DiscreteNoise(), sits.ContinuousNoise()):
    out = sit(empty, indices=[])
    assert out.shape == empty.shape


# ------------------------------------------------------------------ presets


def test_presets_names_configs_and_round_trips():
  paper = sits.paper_presets()
  noises = [f'noise_{d}_eps0.001_{m}' for d in
            ('normal', 'normal_shifted', 'uniform_negative')
            for m in ('all', 'background')]
  assert [s.name for s in paper] == (
      ['translate_dx-1_dy0_zeros', 'translate_dx-2_dy0_zeros'] +
      [n + '_edge' for n in noises] +
      ['zero_latents_k1_continuous', 'zero_latents_k1_quantised',
       'zero_latents_k2_continuous', 'zero_latents_k2_quantised'])
  defaults = sits.default_sits()
  names = [s.name for s in defaults]
  assert len(defaults) == 23 and len(set(names)) == 23
  assert names[:12] == [s.name for s in paper]
  # Our variants beside the paper's: the same noises at the bin centre.
  assert names[12:18] == [n + '_centre' for n in noises]
  assert names[18:] == ['discrete_noise_k1_all', 'discrete_noise_k2_all',
                        'discrete_noise_k4_all', 'discrete_noise_k8_all',
                        'discrete_noise_k4_background']
  composed = sits.Compose([sits.Translate(2, -1, 'edge'),
                           sits.ContinuousNoise(1e-5, placement='centre')])
  # A large eps prints as 1e+20; names must not contain that "+".
  for sit in defaults + [composed, sits.ContinuousNoise(eps=1e20)]:
    assert re.fullmatch(r'[A-Za-z0-9._+-]+', sit.name), sit.name
    assert isinstance(sit, sits.Compose) or '+' not in sit.name, sit.name
    config = json.loads(json.dumps(sit.config()))
    assert config['type'] == type(sit).__name__
    assert sits.from_config(config).name == sit.name
    assert sits.from_config(config).config() == config
    rebuilt = sits.get(sit.name)
    assert type(rebuilt) is type(sit) and rebuilt.config() == config
  with pytest.raises(ValueError, match='`name`'):
    sits.get('rotate_90')
  with pytest.raises(ValueError, match='canonical'):
    sits.get('noise_normal_eps1e-3_all_edge')
  with pytest.raises(ValueError, match="unknown 'type'"):
    sits.from_config({'type': 'Rotate'})


def test_sits_for_model_drops_flow_sits_for_other_models(glow, glow3):
  defaults = sits.default_sits()
  kept = sits.sits_for_model(defaults, object())
  assert [s.name for s in kept] == [s.name for s in defaults
                                    if not s.name.startswith('zero_latents')]
  assert len(kept) == 19
  # A 2-level Glow can zero k = 1 only (k < L); a 3-level one both.
  assert [s.name for s in sits.sits_for_model(defaults, glow)] == [
      s.name for s in defaults if not s.name.startswith('zero_latents_k2')]
  assert sits.sits_for_model(defaults, glow3) == defaults
  composed = sits.Compose([sits.Translate(-1), sits.ZeroLatents(2)])
  assert sits.sits_for_model([composed], glow) == []
  assert sits.sits_for_model([composed], glow3) == [composed]


def test_every_default_sit_on_real_images(real_images, glow3):
  # ZeroLatents needs the 8x8 Glow: use a crop of the real images.
  crops = np.ascontiguousarray(real_images[:4, 10:18, 10:18])
  for sit in sits.default_sits():
    x = crops if sit.needs_flow else real_images[:4]
    out = sit(x, seed=0, model=glow3)
    expected = np.uint8 if sit.kind == 'discrete' else np.float32
    assert out.dtype == expected and out.shape == x.shape, sit.name
    change = sits.pixel_change(x, out, offset=getattr(
        sit, 'offset', sits.CONTINUOUS_OFFSET))
    assert np.all(np.isfinite(change['mean_abs'])), sit.name
    assert change['mean_abs'].max() > 0, sit.name
    # Continuous noise of eps = 0.001 moves pixels by ~0.26 grey levels.
    if sit.name.startswith('noise_'):
      assert change['mean_abs'].max() < 1, sit.name


def test_zero_latents_takes_precomputed_centre_latents(glow):
  x = _random_images((4, 8, 8, 1), seed=9)
  sit = sits.ZeroLatents(1, 'continuous')
  zero_latents._last_decode.clear()  # pylint: disable=protected-access
  want, _ = sit.transform(x, model=glow)
  latents = [np.asarray(z) for z in glow.encode(x, dequantize=False)]
  zero_latents._last_decode.clear()  # pylint: disable=protected-access
  got, valid = sit.transform(x, model=glow, centre_latents=latents)
  assert valid.all()
  np.testing.assert_allclose(got, want, atol=1e-6)
  with pytest.raises(ValueError, match='centre_latents.*shapes'):
    sit.transform(x, model=glow, centre_latents=[z[:2] for z in latents])
