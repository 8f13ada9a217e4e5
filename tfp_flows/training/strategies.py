"""`tf.distribute` strategies by name, including N logical CPU devices."""

import tensorflow as tf

__all__ = ['STRATEGIES', 'configure_cpu_devices', 'make_strategy']

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')


def configure_cpu_devices(num_devices):
  """Splits the first physical CPU into `num_devices` logical devices.

  Must run before TensorFlow initialises its devices (before the first op);
  afterwards it is only possible if the current configuration already
  matches. Lets `MirroredStrategy` run N replicas on a CPU-only machine.

  Raises:
    RuntimeError: if TensorFlow is already initialised with another count.
  """
  cpus = tf.config.list_physical_devices('CPU')
  current = tf.config.get_logical_device_configuration(cpus[0])
  if current is not None and len(current) == num_devices:
    return
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)
  except RuntimeError as e:
    have = len(tf.config.list_logical_devices('CPU'))
    if have == num_devices:
      return
    raise RuntimeError(
        f'Cannot make {num_devices} logical CPU devices: TensorFlow is already '
        f'initialised with {have}. Choose the strategy before any TF op runs.'
    ) from e


def make_strategy(name='default', num_cpu_devices=2, tpu_address=None):
  """Returns a `tf.distribute.Strategy`.

  Args:
    name: 'default' (no distribution), 'mirrored' (all local GPUs, or
      `num_cpu_devices` logical CPUs when there is no GPU), 'multi_worker'
      (`MultiWorkerMirroredStrategy`, cluster from `TF_CONFIG`), or 'tpu'.
    num_cpu_devices: replicas for 'mirrored' on a CPU-only machine.
    tpu_address: TPU name/address for 'tpu' (None: from the environment).

  Returns:
    The strategy.
  """
  if name not in STRATEGIES:
    raise ValueError(f'`strategy` must be one of {STRATEGIES}; got {name!r}.')
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    gpus = tf.config.list_physical_devices('GPU')
    if gpus:
      return tf.distribute.MirroredStrategy()
    configure_cpu_devices(num_cpu_devices)
    devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    # Reduce through one device rather than with CPU collectives: collective
    # instance keys restart with every strategy, so a second MirroredStrategy
    # in the same process (a notebook, a test session) could pair up
    # mismatched collectives and abort ("Shape mismatch in the collective").
    return tf.distribute.MirroredStrategy(
        devices[:num_cpu_devices],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)
