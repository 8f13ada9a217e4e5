"""Contracts of the image bijectors beyond their maths (issue 16, item 3).

* `validate_args=True` turns each thing that can go wrong into a clear error
  (static ones always raise `ValueError`), `validate_args=False` builds no
  assertion ops;
* ActNorm and the 1x1 convolution declare `is_constant_jacobian`;
* identity hashing keeps bijectors with equal parameters apart in TFP's cache;
* ActNorm's data-dependent initialisation inside a `tf.function`;
* the private TFP / tf_keras symbols are checked on import.
"""

import importlib
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows import bijectors as fb
from tfp_flows.bijectors import _tfp_private

EVENT = (4, 4, 2)


def _fresh(t):
  """A new tensor object with the same values (defeats the bijector cache)."""
  return tf.constant(np.array(t))


def _images(batch=3, event=EVENT, seed=0):
  rng = np.random.default_rng(seed)
  return rng.standard_normal((batch,) + tuple(event)).astype(np.float32)


def _constant_conditioner(value):
  """A conditioner factory whose networks output `value` everywhere."""
  def factory(input_channels, output_channels, name):
    del input_channels, name
    return lambda x: tf.tile(x[..., :1] * 0., [1, 1, 1, output_channels]) + (
        value)
  return factory


# -------------------------------------------------------------- validate_args

_BAD = tf.errors.InvalidArgumentError


def _all_ldj_and_maps(b, x):
  """forward, inverse and both log-dets of `b` at `x` (fresh tensors)."""
  return [b.forward(_fresh(x)), b.inverse(_fresh(x)),
          b.forward_log_det_jacobian(_fresh(x), event_ndims=3),
          b.inverse_log_det_jacobian(_fresh(x), event_ndims=3)]


@pytest.mark.parametrize('variable, value, pattern', [
    ('log_scale', [0., -1e4], 'log_scale'),     # exp -> 0: not invertible
    ('log_scale', [0., 1e4], 'log_scale'),      # exp -> inf
    ('log_scale', [0., np.nan], 'log_scale'),
    ('loc', [0., np.inf], 'loc'),
])
def test_actnorm_validate_args_rejects_bad_parameters(variable, value,
                                                      pattern):
  x = _images()
  for call in (lambda b: b.forward(_fresh(x)),
               lambda b: b.inverse(_fresh(x)),
               lambda b: b.forward_log_det_jacobian(_fresh(x), event_ndims=3),
               lambda b: tf.function(b.inverse)(_fresh(x))):
    b = fb.ActNorm(2, validate_args=True)
    getattr(b, variable).assign(value)
    with pytest.raises(_BAD, match=pattern):
      call(b)
  # Without validation the same parameters pass unchecked (the fast path).
  b = fb.ActNorm(2)
  getattr(b, variable).assign(value)
  _all_ldj_and_maps(b, x)


@pytest.mark.parametrize('variable, pattern', [
    ('_log_abs_s', 'log_abs_s'), ('_lower', 'lower'), ('_upper', 'upper')])
def test_conv1x1_validate_args_rejects_singular_or_non_finite_kernel(
    variable, pattern):
  x = _images()
  b = fb.InvertibleConv1x1(2, validate_args=True)
  _all_ldj_and_maps(b, x)  # A valid kernel passes.
  var = getattr(b, variable)
  bad = np.zeros(var.shape, np.float32)
  bad.flat[-1] = -np.inf  # log|s| = -inf is a zero on U's diagonal.
  var.assign(bad)
  for call in (lambda: b.forward(_fresh(x)), lambda: b.inverse(_fresh(x)),
               lambda: tf.function(b.forward)(_fresh(x))):
    with pytest.raises(_BAD, match=pattern):
      call()
  fb.InvertibleConv1x1(2).forward(_fresh(x))  # Unchecked without validation.


_AFFINE = lambda v, value: fb.AffineCoupling(
    2, _constant_conditioner(value), validate_args=v)
_ADDITIVE = lambda v, value: fb.AffineCoupling(
    2, _constant_conditioner(value), additive=True, validate_args=v)
_FACTOR_OUT = lambda v, value: fb.GaussianFactorOut(
    2, _constant_conditioner(value), validate_args=v)


@pytest.mark.parametrize('make, value', [
    (_AFFINE, np.nan),
    (_AFFINE, -1e30),      # sigmoid(raw + 2) underflows to 0: singular.
    (_ADDITIVE, np.nan),
    (_ADDITIVE, np.inf),   # No scale; an infinite shift.
    (_FACTOR_OUT, np.nan),
    (_FACTOR_OUT, -1e30),  # sigma = exp(-1e30) = 0: singular.
], ids=['affine-nan', 'affine-zero-scale', 'additive-nan', 'additive-inf',
        'factor_out-nan', 'factor_out-zero-scale'])
def test_coupling_validate_args_rejects_bad_conditioner_output(make, value):
  x = _images()
  _all_ldj_and_maps(make(True, 0.5), x)  # A finite output passes.
  b = make(True, value)
  for call in (lambda: b.forward(_fresh(x)), lambda: b.inverse(_fresh(x)),
               lambda: tf.function(b.inverse)(_fresh(x))):
    with pytest.raises(_BAD, match='conditioner'):
      call()
  make(False, value).inverse(_fresh(x))  # Unchecked without validation.


def _crop_last_row_factory(input_channels, output_channels, name):
  """A conditioner that loses a row, in a way only known at run time."""
  del input_channels, name

  def net(x):
    out = tf.tile(x[..., :1] * 0., [1, 1, 1, output_channels])
    # Depends on x's values, so shape inference cannot fold it to 3.
    rows = tf.shape(x)[1] - tf.cast(tf.reduce_all(tf.math.is_finite(x)),
                                    tf.int32)
    return out[:, :rows]
  return net


def test_coupling_checks_the_conditioners_spatial_size():
  # Static: a [N, 1, 1, k] output would broadcast silently.
  pooled = lambda cin, cout, name: (
      lambda x: tf.zeros([tf.shape(x)[0], 1, 1, cout]))
  with pytest.raises(ValueError, match='spatial sizes must'):
    fb.AffineCoupling(2, pooled).forward(_fresh(_images()))
  # Dynamic (static size unknown in a tf.function): a run-time assertion.
  b = fb.AffineCoupling(2, _crop_last_row_factory, validate_args=True)
  with pytest.raises(_BAD, match='spatial sizes differ'):
    tf.function(b.inverse)(_fresh(_images()))


def test_channel_preserving_event_shapes_are_checked():
  for b in (fb.ActNorm(3), fb.InvertibleConv1x1(3),
            fb.AffineCoupling(3, fb.zero_conv_factory()),
            fb.GaussianFactorOut(3)):
    assert b.forward_event_shape([4, 4, 3]) == [4, 4, 3]
    for method in (b.forward_event_shape, b.inverse_event_shape):
      with pytest.raises(ValueError, match='num_channels=3'):
        method([4, 4, 2])
      with pytest.raises(ValueError, match=r'\[\.\.\., H, W, C\]'):
        method([4])
  validating = fb.ActNorm(3, validate_args=True)
  for method in (validating.forward_event_shape_tensor,
                 validating.inverse_event_shape_tensor):
    np.testing.assert_array_equal(method([4, 4, 3]), [4, 4, 3])
    with pytest.raises(_BAD, match='wrong number of channels'):
      method(tf.constant([4, 4, 2]))
  # Without validation a shape tensor passes unchecked.
  fb.ActNorm(3).forward_event_shape_tensor(tf.constant([4, 4, 2]))


def test_squeeze_validates_divisibility():
  b = fb.Squeeze(validate_args=True)
  with pytest.raises(_BAD, match='height and width must be divisible by 2'):
    b.forward_event_shape_tensor(tf.constant([3, 4, 1]))
  with pytest.raises(_BAD, match='channels must be divisible by 4'):
    b.inverse_event_shape_tensor(tf.constant([2, 2, 3]))
  np.testing.assert_array_equal(
      b.forward_event_shape_tensor(tf.constant([4, 6, 1])), [2, 3, 4])
  # Static shapes are checked whatever validate_args.
  for squeeze in (b, fb.Squeeze()):
    with pytest.raises(ValueError, match='divisible by 2'):
      squeeze.forward(tf.zeros([1, 3, 4, 1]))
    with pytest.raises(ValueError, match='divisible by 4'):
      squeeze.inverse(tf.zeros([1, 2, 2, 3]))
    with pytest.raises(ValueError, match='divisible by 4'):
      squeeze.inverse_event_shape([2, 2, 3])
  # Without validation a shape tensor passes unchecked (floor division).
  np.testing.assert_array_equal(
      fb.Squeeze().forward_event_shape_tensor(tf.constant([3, 4, 1])),
      [1, 2, 4])


def test_actnorm_init_validates_the_batch_statistics():
  x = _images(4)
  x[0, 0, 0, 1] = np.nan
  b = fb.ActNorm(2, validate_args=True)
  with pytest.raises(_BAD, match='non-finite statistics'):
    with fb.data_dependent_init(b):
      b.inverse(_fresh(x))
  assert not b.is_initialized


def _assert_op_count(bijector, x):
  """Assertion ops in a traced forward/inverse/log-det pass, nested too."""
  fn = tf.function(lambda t: _all_ldj_and_maps_graph(bijector, t))
  graph_def = fn.get_concrete_function(
      tf.TensorSpec(x.shape, x.dtype)).graph.as_graph_def()
  types = [n.op for n in graph_def.node]
  for f in graph_def.library.function:
    types += [n.op for n in f.node_def]
  return sum(t in ('Assert', 'CheckNumerics') for t in types)


def _all_ldj_and_maps_graph(b, x):
  # tf.identity: new tensors, so the bijector cache does not skip the work.
  y = b.forward(x)
  return [y, b.inverse(tf.identity(y)),
          b.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
          b.inverse_log_det_jacobian(tf.identity(y), event_ndims=3)]


_CHECKED = {
    'actnorm': lambda v: fb.ActNorm(2, validate_args=v),
    'conv1x1': lambda v: fb.InvertibleConv1x1(2, validate_args=v),
    'affine_coupling': lambda v: fb.AffineCoupling(
        2, fb.glow_conditioner_factory(4), validate_args=v),
    'additive_coupling': lambda v: fb.AffineCoupling(
        2, fb.glow_conditioner_factory(4), additive=True, validate_args=v),
    'factor_out': lambda v: fb.GaussianFactorOut(2, validate_args=v),
}


@pytest.mark.parametrize('name', sorted(_CHECKED))
def test_validate_args_false_builds_no_assertion_ops(name):
  x = _images()
  assert _assert_op_count(_CHECKED[name](False), x) == 0
  assert _assert_op_count(_CHECKED[name](True), x) > 0


@pytest.mark.parametrize('make', [
    lambda: fb.Squeeze(), lambda: fb.ImageIdentity(),
    lambda: fb.Chain([fb.ActNorm(2), fb.InvertibleConv1x1(2)]),
    lambda: fb.Invert(fb.ActNorm(2))])
def test_unvalidated_composites_build_no_assertion_ops(make):
  assert _assert_op_count(make(), _images()) == 0


def test_image_identity_documents_that_it_has_nothing_to_validate():
  assert 'nothing to validate' in ' '.join(
      fb.ImageIdentity.__init__.__doc__.split())


# ------------------------------------------------------- is_constant_jacobian


def test_is_constant_jacobian_flags():
  assert fb.ActNorm(2).is_constant_jacobian
  assert fb.InvertibleConv1x1(2).is_constant_jacobian
  assert fb.Squeeze().is_constant_jacobian
  assert fb.ImageIdentity().is_constant_jacobian
  assert not fb.AffineCoupling(2, fb.zero_conv_factory()).is_constant_jacobian
  assert not fb.GaussianFactorOut(2).is_constant_jacobian
  assert fb.Chain([fb.ActNorm(2), fb.InvertibleConv1x1(2)]).is_constant_jacobian
  assert not fb.Chain([fb.ActNorm(2), fb.GaussianFactorOut(2)]
                      ).is_constant_jacobian


def test_constant_jacobian_still_follows_init_and_training():
  # The flag says the Jacobian does not depend on x; it must still follow
  # the variables: data-dependent init through a distribution's log_prob,
  # then an update, both show in the log-det.
  an, conv = fb.ActNorm(2), fb.InvertibleConv1x1(2, seed=3)
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), EVENT), fb.Chain([an, conv]))
  x = _images(16) * 3. + 1.
  with fb.data_dependent_init(dist.bijector) as pending:
    assert pending == [an]
    dist.log_prob(_fresh(x))
  assert an.is_initialized

  def expected_log_prob(x):
    # Chain([an, conv]) normalises with an first, then conv.
    z = conv.inverse((_fresh(x) - an.loc) * tf.exp(-an.log_scale))
    ldj = 16. * (tf.reduce_sum(an.log_scale) + tf.reduce_sum(conv._log_abs_s))  # pylint: disable=protected-access
    return (tf.reduce_sum(tfd.Normal(0., 1.).log_prob(z), axis=[1, 2, 3])
            - ldj)

  np.testing.assert_allclose(dist.log_prob(_fresh(x)), expected_log_prob(x),
                             rtol=1e-5)
  an.log_scale.assign_add([0.5, -0.25])
  conv._log_abs_s.assign_add([0.3, 0.1])  # pylint: disable=protected-access
  np.testing.assert_allclose(dist.log_prob(_fresh(x)), expected_log_prob(x),
                             rtol=1e-5)
  for b in (an, conv):
    fldj = b.forward_log_det_jacobian(_fresh(x), event_ndims=3)
    np.testing.assert_allclose(
        fldj, -b.inverse_log_det_jacobian(b.forward(_fresh(x)), event_ndims=3),
        rtol=1e-6)


# ----------------------------------------------------------- identity hashing


class _StructurallyHashedActNorm(fb.ActNorm):
  """ActNorm with TFP's default hashing: the bug identity hashing prevents."""
  __hash__ = tfb.Bijector.__hash__
  __eq__ = tfb.Bijector.__eq__


def _cross_inverse(cls):
  """`b.inverse(a.forward(x))` for two `cls(3)` whose variables differ."""
  a, b = cls(3), cls(3)
  x = _images(2, (3, 3, 3))
  # Equal parameters, and (here) equal variables too.
  y = a.forward(_fresh(x))
  np.testing.assert_allclose(b.inverse(y), x, atol=1e-6)
  # Now b changes: initialised from data, as in a Glow.
  with fb.data_dependent_init(b):
    b.inverse(_fresh(x * 2. + 5.))
  y = a.forward(_fresh(x))
  return x, y, b, b.inverse(y), b.inverse_log_det_jacobian(y, event_ndims=3)


def test_identity_hashing_keeps_equal_bijectors_apart_in_the_cache():
  a, b = fb.ActNorm(3), fb.ActNorm(3)
  assert a.parameters == b.parameters
  assert a != b and hash(a) != hash(b)
  x, y, b, x_b, ildj_b = _cross_inverse(fb.ActNorm)
  np.testing.assert_allclose(
      x_b, (y.numpy() - b.loc.numpy()) * np.exp(-b.log_scale.numpy()),
      rtol=1e-5, atol=1e-5)
  assert not np.allclose(x_b, x, atol=1e-2)
  np.testing.assert_allclose(ildj_b, [-9. * np.sum(b.log_scale.numpy())] * 2,
                             rtol=1e-5)


def test_structural_hashing_would_share_cache_entries():
  # Guards the test above: with TFP's hashing the cache hands b a's result.
  x, _, _, x_b, _ = _cross_inverse(_StructurallyHashedActNorm)
  np.testing.assert_array_equal(x_b, x)


def test_identity_hashing_docstring_says_it_is_needed_for_correctness():
  doc = ' '.join(fb.identity_hashing.__doc__.split())
  assert 'needed for correctness' in doc
  assert 'ActNorm(3)' in doc


# ---------------------------------------------- ActNorm init in a tf.function


def _init_batch(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((16, 5, 5, 3)) * [1., 3., .2] + [2., -1., 7.]
          ).astype(np.float32)


def test_actnorm_init_in_tf_function_matches_eager():
  x = _init_batch()
  eager, graph = fb.ActNorm(3), fb.ActNorm(3)
  with fb.data_dependent_init(eager):
    z_eager = eager.inverse(_fresh(x))
  inverse = tf.function(graph.inverse)
  with fb.data_dependent_init(graph):
    z_graph = inverse(_fresh(x))  # Traced here, in init mode.
  assert graph.is_initialized
  np.testing.assert_allclose(graph.loc, eager.loc, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(graph.log_scale, eager.log_scale, rtol=1e-6,
                             atol=1e-6)
  np.testing.assert_allclose(z_graph, z_eager, rtol=1e-5, atol=1e-5)
  # The init-mode trace is reused for the next batch of the same shape; it
  # must not re-initialise.
  loc, log_scale = graph.loc.numpy(), graph.log_scale.numpy()
  other = _init_batch(seed=1) * 10.
  z = inverse(_fresh(other))
  assert inverse.experimental_get_tracing_count() == 1
  np.testing.assert_array_equal(graph.loc, loc)
  np.testing.assert_array_equal(graph.log_scale, log_scale)
  np.testing.assert_allclose(z, (other - loc) * np.exp(-log_scale),
                             rtol=1e-5, atol=1e-5)


def test_actnorm_init_log_prob_in_tf_function_matches_eager():
  x = _init_batch()
  results = []
  for compile_it in (False, True):
    an = fb.ActNorm(3)
    dist = tfd.TransformedDistribution(
        tfd.Sample(tfd.Normal(0., 1.), [5, 5, 3]), an)
    log_prob = tf.function(dist.log_prob) if compile_it else dist.log_prob
    with fb.data_dependent_init(an):
      results.append((log_prob(_fresh(x)).numpy(), an.loc.numpy(),
                      an.log_scale.numpy()))
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_tf_function_traced_before_the_context_is_a_clear_error():
  an = fb.ActNorm(3)
  inverse = tf.function(an.inverse)
  inverse(_fresh(_init_batch()))  # Traced outside: plain inverse.
  with pytest.raises(RuntimeError, match='traced before the context'):
    with fb.data_dependent_init(an):
      inverse(_fresh(_init_batch()))
  assert not an.is_initialized


def test_data_dependent_init_inside_tf_function_is_a_clear_error():
  an = fb.ActNorm(3)

  @tf.function
  def init(x):
    with fb.data_dependent_init(an):
      return an.inverse(x)

  with pytest.raises(RuntimeError, match='must be entered eagerly'):
    init(_fresh(_init_batch()))


def test_errors_inside_the_context_propagate_unchanged():
  an = fb.ActNorm(3)
  with pytest.raises(KeyError):
    with fb.data_dependent_init(an):
      raise KeyError('mine')
  assert not an._init_mode  # pylint: disable=protected-access


# Under a MirroredStrategy, init in a tf.function is tested beside the eager
# one in test_bijectors.py (one strategy object for both; see there).


# ------------------------------------------------------ private TFP symbols


def test_private_symbols_are_the_tfp_ones():
  from tensorflow_probability.python.bijectors import chain  # pylint: disable=g-import-not-at-top
  from tensorflow_probability.python.internal import cache_util  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  assert _tfp_private.Chain is chain._Chain  # pylint: disable=protected-access
  assert issubclass(fb.Chain, _tfp_private.Chain)
  assert (_tfp_private.BijectorCacheWithGreedyAttrs
          is cache_util.BijectorCacheWithGreedyAttrs)
  assert _tfp_private.PIXEL_CNN_KERAS_LAYERS is tf_keras.layers


def test_missing_private_symbol_is_a_clear_import_error(monkeypatch):
  from tensorflow_probability.python.bijectors import chain  # pylint: disable=g-import-not-at-top
  monkeypatch.delattr(chain, '_Chain')
  with pytest.raises(ImportError) as info:
    _tfp_private.require('tensorflow_probability.python.bijectors.chain',
                         '_Chain')
  message = str(info.value)
  assert 'tensorflow_probability.python.bijectors.chain._Chain' in message
  assert f'tensorflow-probability {tfp.__version__}' in message
  assert 'tensorflow-probability 0.25.0' in message
  # The module-level checks run on import.
  try:
    with pytest.raises(ImportError, match='_Chain'):
      importlib.reload(_tfp_private)
  finally:
    monkeypatch.undo()
    importlib.reload(_tfp_private)
  assert _tfp_private.Chain is chain._Chain  # pylint: disable=protected-access


def test_missing_private_module_or_nested_attribute(monkeypatch):
  name = 'tensorflow_probability.python.internal.cache_util'
  monkeypatch.setitem(sys.modules, name, None)
  with pytest.raises(ImportError, match=f'cannot import `{name}`'):
    _tfp_private.require(name, 'BijectorCacheWithGreedyAttrs')
  monkeypatch.undo()
  from tensorflow_probability.python.distributions import pixel_cnn  # pylint: disable=g-import-not-at-top
  monkeypatch.delattr(pixel_cnn.PixelCNN, '_make_mixture_dist')
  with pytest.raises(ImportError, match='PixelCNN._make_mixture_dist'):
    _tfp_private.require(pixel_cnn.__name__, 'PixelCNN._make_mixture_dist')


def test_masked_conv_takes_the_checked_keras_namespace():
  from tfp_flows.models import masked_conv  # pylint: disable=g-import-not-at-top
  layers = _tfp_private.PIXEL_CNN_KERAS_LAYERS
  original = layers.Convolution2D
  with masked_conv.box_convolutions():
    assert layers.Convolution2D is masked_conv.BoxConv2D
  assert layers.Convolution2D is original
