"""The same battery of checks for every image bijector in tfp_flows.bijectors.

Each bijector is built on a tiny event shape, its parameters are perturbed
away from their (often identity) initialisation, and then:
  * inverse(forward(x)) == x (float32 1e-4);
  * forward log-det == slogdet of the autodiff Jacobian (1e-3);
  * fldj(x) == -ildj(forward(x));
  * batch shapes [], [1], [3]; float64.
The bijector cache would answer `inverse(forward(x))` with `x` itself, so every
check feeds a *new* tensor (`_fresh`) to force a real computation.

Every bijector class of tfp_flows.bijectors is in `BIJECTORS`, including the
identity-hashed compositions (`Chain`, `Invert`, `JointMap`, the last in the
Split/JointMap route Glow uses); `test_battery_covers_every_bijector_class`
keeps it that way.
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows import bijectors as fb

EVENT = (4, 4, 2)


def _fresh(t):
  """A new tensor object with the same values (defeats the bijector cache)."""
  return tf.constant(np.array(t))


def _perturb(bijector, seed=0, scale=0.3):
  rng = np.random.default_rng(seed)
  for v in bijector.trainable_variables:
    v.assign(v + scale * rng.standard_normal(v.shape).astype(
        v.dtype.as_numpy_dtype))
  return bijector


def _small_conditioner(dtype):
  return fb.glow_conditioner_factory(hidden_channels=8, seed=3, dtype=dtype)


def _small_prior(dtype):
  return fb.zero_conv_factory(dtype=dtype)


def _route(c, dt):
  """Glow's level routing: split channels, ActNorm one half, keep the other."""
  split = tfb.Split(2, axis=-1)
  return fb.Chain([fb.Invert(split),
                   fb.JointMap([fb.ActNorm(c // 2, dtype=dt),
                                fb.ImageIdentity()]),
                   split])


BIJECTORS = {
    'actnorm': lambda c, dt: fb.ActNorm(c, dtype=dt),
    'conv1x1': lambda c, dt: fb.InvertibleConv1x1(c, seed=1, dtype=dt),
    'affine_coupling': lambda c, dt: fb.AffineCoupling(
        c, _small_conditioner(dt), dtype=dt),
    'additive_coupling': lambda c, dt: fb.AffineCoupling(
        c, _small_conditioner(dt), additive=True, dtype=dt),
    'factor_out': lambda c, dt: fb.GaussianFactorOut(
        c, _small_prior(dt), dtype=dt),
    'squeeze': lambda c, dt: fb.Squeeze(),
    'image_identity': lambda c, dt: fb.ImageIdentity(),
    'chain': lambda c, dt: fb.Chain([
        fb.ActNorm(c, dtype=dt), fb.InvertibleConv1x1(c, seed=2, dtype=dt)]),
    'invert': lambda c, dt: fb.Invert(fb.AffineCoupling(
        c, _small_conditioner(dt), dtype=dt)),
    'joint_map_route': _route,
}


def test_battery_covers_every_bijector_class():
  exported = {obj for obj in vars(fb).values()
              if inspect.isclass(obj) and issubclass(obj, tfb.Bijector)}
  covered = set()
  for make in BIJECTORS.values():
    stack = [make(EVENT[-1], tf.float32)]
    while stack:
      b = stack.pop()
      covered.add(type(b))
      sub = getattr(b, 'bijectors', None) or [getattr(b, 'bijector', None)]
      stack.extend(s for s in sub if isinstance(s, tfb.Bijector))
  assert exported - covered == set()


def _make(name, dtype=tf.float32, channels=EVENT[-1]):
  return _perturb(BIJECTORS[name](channels, dtype))


def _input(batch_shape, dtype=np.float32, seed=1):
  rng = np.random.default_rng(seed)
  return rng.standard_normal(tuple(batch_shape) + EVENT).astype(dtype)


@pytest.mark.parametrize('name', sorted(BIJECTORS))
@pytest.mark.parametrize('batch_shape', [(), (1,), (3,)])
def test_inverse_of_forward_is_identity(name, batch_shape, assert_all_finite):
  b = _make(name)
  x = _input(batch_shape)
  y = b.forward(_fresh(x))
  x_again = b.inverse(_fresh(y))
  assert_all_finite(x_again, shape=x.shape)
  np.testing.assert_allclose(x_again.numpy(), x, atol=1e-4)


@pytest.mark.parametrize('name', sorted(BIJECTORS))
@pytest.mark.parametrize('batch_shape', [(), (1,), (3,)])
def test_fldj_is_minus_ildj_of_forward(name, batch_shape, assert_all_finite):
  b = _make(name)
  x = _input(batch_shape)
  fldj = b.forward_log_det_jacobian(_fresh(x), event_ndims=3)
  y = b.forward(_fresh(x))
  ildj = b.inverse_log_det_jacobian(_fresh(y), event_ndims=3)
  assert_all_finite([fldj, ildj], shape=batch_shape)
  np.testing.assert_allclose(fldj.numpy(), -ildj.numpy(), rtol=1e-5, atol=1e-4)


def _autodiff_log_det(bijector, x):
  """slogdet of d forward(x) / dx, flattening each event to a vector."""
  x = tf.convert_to_tensor(x)
  n = x.shape[0]
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = bijector.forward(x)
    y_flat = tf.reshape(y, [n, -1])
  jac = tape.batch_jacobian(y_flat, x)
  jac = tf.reshape(jac, [n, y_flat.shape[-1], -1])
  sign, log_abs = np.linalg.slogdet(jac.numpy().astype(np.float64))
  assert np.all(sign != 0), 'Jacobian is singular'
  return log_abs


@pytest.mark.parametrize('name', sorted(BIJECTORS))
@pytest.mark.parametrize('dtype', [tf.float32, tf.float64])
def test_log_det_matches_autodiff_jacobian(name, dtype):
  b = _make(name, dtype)
  x = _input((2,), dtype.as_numpy_dtype, seed=5)
  expected = _autodiff_log_det(b, _fresh(x))
  got = b.forward_log_det_jacobian(_fresh(x), event_ndims=3).numpy()
  tol = 1e-3 if dtype == tf.float32 else 1e-8
  np.testing.assert_allclose(got, expected, atol=tol, rtol=0)


@pytest.mark.parametrize('name', sorted(BIJECTORS))
def test_float64_roundtrip(name):
  b = _make(name, tf.float64)
  x = _input((3,), np.float64)
  y = b.forward(_fresh(x))
  assert y.dtype == tf.float64
  np.testing.assert_allclose(b.inverse(_fresh(y)).numpy(), x, atol=1e-10)


@pytest.mark.parametrize('name', ['affine_coupling', 'factor_out'])
def test_log_det_is_not_trivial_after_perturbation(name):
  # Guards the battery itself: a log-det identically 0 would pass it vacuously.
  b = _make(name)
  ldj = b.forward_log_det_jacobian(_fresh(_input((3,))), event_ndims=3).numpy()
  assert np.all(np.abs(ldj) > 1e-2)
  assert np.ptp(ldj) > 1e-3  # depends on x through the conditioner


def test_coupling_runs_conditioner_once_per_log_prob_pass():
  calls = []

  def counting_factory(cin, cout, name):
    net = fb.GlowConditioner(cin, cout, hidden_channels=4, seed=0, name=name)

    def call(x):
      calls.append(1)
      return net(x)
    call.net = net
    return call

  b = fb.AffineCoupling(2, counting_factory)
  x = _fresh(_input((2,)))
  z = b.inverse(x)
  b.inverse_log_det_jacobian(x, event_ndims=3)
  b.forward_log_det_jacobian(z, event_ndims=3)
  assert len(calls) == 1


def test_actnorm_data_dependent_init_standardises_first_batch():
  an = fb.ActNorm(3)
  rng = np.random.default_rng(0)
  x = (rng.standard_normal((16, 5, 5, 3)) * [1., 3., .2] + [2., -1., 7.]
       ).astype(np.float32)
  with fb.data_dependent_init(an) as pending:
    assert pending == [an]
    z = an.inverse(_fresh(x)).numpy()
  assert an.is_initialized
  np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0., atol=1e-4)
  np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1., atol=1e-4)
  # Initialisation happens once: a second init context leaves it alone.
  loc = an.loc.numpy().copy()
  with fb.data_dependent_init(an) as pending:
    assert pending == []
    an.inverse(_fresh(x * 5.))
  np.testing.assert_array_equal(an.loc.numpy(), loc)


def test_actnorm_initialized_flag_survives_checkpoint(tmp_path):
  an = fb.ActNorm(2)
  with fb.data_dependent_init(an):
    an.inverse(_fresh(_input((4,)) * 3. + 1.))
  path = tf.train.Checkpoint(bijector=an).write(str(tmp_path / 'ckpt'))
  restored = fb.ActNorm(2)
  assert not restored.is_initialized
  tf.train.Checkpoint(bijector=restored).read(path).assert_consumed()
  assert restored.is_initialized
  np.testing.assert_array_equal(restored.loc.numpy(), an.loc.numpy())
  with fb.data_dependent_init(restored) as pending:
    assert pending == []


def test_actnorm_init_uses_global_batch_under_mirrored_strategy():
  devices = tf.config.list_logical_devices('CPU')
  if len(devices) < 2:
    pytest.fail('conftest must configure 2 logical CPU devices before TF '
                'initialises; got %d' % len(devices))
  strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
  rng = np.random.default_rng(1)
  # The two replicas see very different halves, so per-replica statistics
  # would differ from the global ones.
  x = np.concatenate([rng.standard_normal((4, 3, 3, 2)),
                      rng.standard_normal((4, 3, 3, 2)) * 4. + 10.]
                     ).astype(np.float32)
  dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)
  batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
  # Eagerly, and in a tf.function traced inside the context (as
  # Glow.initialize does). Both under this one strategy: in TF 2.18, eager
  # and tf.function collectives of two MirroredStrategy objects in one
  # process collide ("Shape mismatch in the collective instance"), whatever
  # the code that runs them.
  for compiled in (False, True):
    with strategy.scope():
      an = fb.ActNorm(2)
    inverse = tf.function(an.inverse, autograph=False) if compiled else (
        an.inverse)
    with fb.data_dependent_init(an):
      strategy.run(inverse, args=(batch,))
    np.testing.assert_allclose(an.loc.numpy(), x.mean(axis=(0, 1, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(np.exp(an.log_scale.numpy()),
                               x.std(axis=(0, 1, 2)), rtol=1e-4)
    assert an.is_initialized
    for variable in (an.loc, an.log_scale):
      for replica_value in strategy.experimental_local_results(variable):
        np.testing.assert_allclose(replica_value.numpy(), variable.numpy())


def test_conv1x1_starts_as_rotation_and_matches_lu_kernel():
  b = fb.InvertibleConv1x1(6, seed=4)
  w = b.kernel().numpy()
  np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)
  np.testing.assert_allclose(
      b.forward_log_det_jacobian(_fresh(_input((1,))), event_ndims=3), 0.,
      atol=1e-4)
  np.testing.assert_allclose(b.inverse_kernel().numpy() @ w, np.eye(6),
                             atol=1e-5)


def test_squeeze_shapes_and_values():
  b = fb.Squeeze()
  x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
  y = b.forward(_fresh(x)).numpy()
  assert y.shape == (2, 2, 2, 4)
  # Each output pixel holds its 2x2 block in raster order.
  np.testing.assert_array_equal(y[0, 0, 0], x[0, :2, :2, 0].ravel())
  assert b.forward_event_shape([4, 4, 1]) == [2, 2, 4]
  assert b.inverse_event_shape([2, 2, 4]) == [4, 4, 1]


@pytest.mark.parametrize('make, pattern', [
    (lambda: fb.ActNorm(0), 'num_channels'),
    (lambda: fb.ActNorm(2, epsilon=0.), 'epsilon'),
    (lambda: fb.InvertibleConv1x1(-1), 'num_channels'),
    (lambda: fb.InvertibleConv1x1(2.5), 'num_channels'),
    (lambda: fb.AffineCoupling(1), 'num_channels'),
    (lambda: fb.AffineCoupling(4, conditioner_fn='net'), 'conditioner_fn'),
    (lambda: fb.AffineCoupling(4, additive='yes'), 'additive'),
    (lambda: fb.GaussianFactorOut(1), 'num_channels'),
    (lambda: fb.Squeeze(factor=1), 'factor'),
    (lambda: fb.GlowConditioner(2, 4, hidden_channels=0), 'hidden_channels'),
])
def test_bad_constructor_arguments_name_the_argument(make, pattern):
  with pytest.raises((ValueError, TypeError), match=pattern):
    make()


def test_conditioner_with_wrong_output_channels_is_a_clear_error():
  bad_factory = fb.zero_conv_factory()
  b = fb.AffineCoupling(4, lambda cin, cout, name: bad_factory(cin, 3, name))
  with pytest.raises(ValueError, match='conditioner returned'):
    b.forward(_fresh(np.zeros((1, 4, 4, 4), np.float32)))


def test_wrong_channel_count_is_a_clear_error():
  b = fb.ActNorm(3)
  with pytest.raises(ValueError, match='num_channels=3'):
    b.forward(_fresh(_input((1,))))
  with pytest.raises(ValueError, match='divisible by 2'):
    fb.Squeeze().forward(tf.zeros([1, 3, 4, 1]))
