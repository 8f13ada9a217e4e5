"""A small convolutional classifier for 28x28 grey-level images.

`ImageClassifier` measures whether a transformation of an image keeps its
semantics: classify the images before and after, compare the labels. It takes
images as grey levels in [0, 255] (uint8, or float for continuous or noisy
images, which may lie slightly outside that range) and scales them by 1/255
itself, so callers never normalise.

Architecture: blocks of 3x3 'same' convolutions, each followed by batch norm
and ReLU, with a 2x2 max pool after every block; then flatten, dense
(`dense_units`, ReLU), dropout, and a dense layer to `num_classes` logits.
The default,

  conv(16)-pool-conv(32)-pool-conv(64)-pool-dense(256)-dropout-dense(10)

(28 -> 14 -> 7 -> 4 pixels a side), is sized for minutes of training on two
busy CPU cores; see docs/CLASSIFIERS.md for measured accuracies.
"""

import numbers

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows.utils.validation import positive_int

__all__ = ['ImageClassifier']

_DEFAULT_BLOCK_FILTERS = ((16,), (32,), (64,))


def _check_block_filters(block_filters):
  """Returns `block_filters` as a tuple of tuples of positive ints."""
  message = ('`block_filters` must be a non-empty sequence of non-empty '
             'sequences of positive ints (filters of the 3x3 convolutions of '
             'each block), e.g. ((32, 32), (64, 64)); got '
             f'{block_filters!r}.')
  if isinstance(block_filters, (str, bytes)):
    raise TypeError(message)
  try:
    blocks = tuple(tuple(block) for block in block_filters)
  except TypeError:
    raise TypeError(message) from None
  if not blocks or not all(blocks):
    raise ValueError(message)
  for block in blocks:
    for filters in block:
      if isinstance(filters, bool) or not isinstance(filters,
                                                     numbers.Integral):
        raise TypeError(message)
      if filters <= 0:
        raise ValueError(message)
  return tuple(tuple(int(f) for f in block) for block in blocks)


class ImageClassifier(tf.Module):
  """A small CNN mapping grey-level images to class probabilities.

  Attributes:
    dataset: str, the data set the classifier is for (e.g. 'mnist');
      bookkeeping only, it does not change the network.
    num_classes: int, number of classes (length of the probability vectors).
    image_shape: tuple of 3 ints, (height, width, channels) of one image.
    network: the underlying `tf_keras.Sequential`; it takes float32 images
      already scaled to [0, 1] and returns logits. Prefer `logits`.
    metrics: dict, the training metrics stored with a saved classifier
      (e.g. `test_accuracy`), set by `load_classifier`; empty otherwise.
    model_dir: str, the directory it was loaded from, or None.
  """

  def __init__(self, dataset, num_classes=10, image_shape=(28, 28, 1),
               block_filters=_DEFAULT_BLOCK_FILTERS, dense_units=256,
               dropout_rate=0.25, batch_norm=True, batch_norm_momentum=0.99,
               seed=0, name=None):
    """Builds the network (weights initialised from `seed`).

    Args:
      dataset: non-empty str naming the data set, e.g. 'fashion_mnist'.
      num_classes: int >= 2.
      image_shape: (height, width, channels), positive ints.
      block_filters: sequence of blocks, each a sequence of filter counts of
        its 3x3 convolutions.
      dense_units: units of the hidden dense layer.
      dropout_rate: float in [0, 1), dropout before the output layer (only
        active in training).
      batch_norm: whether each convolution is followed by batch norm.
      batch_norm_momentum: float in [0, 1), decay of batch norm's moving
        mean and variance (the statistics used for prediction). 0.99 needs
        several hundred steps to forget its initial values; use about 0.9
        for runs of only a few hundred steps.
      seed: int, seeds weight initialisation and dropout.
      name: optional module name.

    Raises:
      TypeError, ValueError: naming the bad argument.
    """
    super().__init__(name=name)
    if not isinstance(dataset, str):
      raise TypeError(f'`dataset` must be a str; got {dataset!r}.')
    if not dataset:
      raise ValueError('`dataset` must be a non-empty str.')
    num_classes = positive_int(num_classes, 'num_classes')
    if num_classes < 2:
      raise ValueError(f'`num_classes` must be >= 2; got {num_classes}.')
    if isinstance(image_shape, (str, bytes)):
      raise TypeError(f'`image_shape` must be 3 positive ints; got '
                      f'{image_shape!r}.')
    try:
      image_shape = tuple(image_shape)
    except TypeError:
      raise TypeError(f'`image_shape` must be 3 positive ints; got '
                      f'{image_shape!r}.') from None
    if len(image_shape) != 3:
      raise ValueError(f'`image_shape` must be (height, width, channels); '
                       f'got {image_shape!r}.')
    image_shape = tuple(positive_int(d, 'image_shape') for d in image_shape)
    block_filters = _check_block_filters(block_filters)
    dense_units = positive_int(dense_units, 'dense_units')
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate,
                                                        numbers.Real):
      raise TypeError(f'`dropout_rate` must be a float in [0, 1); got '
                      f'{dropout_rate!r}.')
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f'`dropout_rate` must be in [0, 1); got '
                       f'{dropout_rate!r}.')
    if not isinstance(batch_norm, bool):
      raise TypeError(f'`batch_norm` must be a bool; got {batch_norm!r}.')
    if isinstance(batch_norm_momentum, bool) or not isinstance(
        batch_norm_momentum, numbers.Real):
      raise TypeError(f'`batch_norm_momentum` must be a float in [0, 1); '
                      f'got {batch_norm_momentum!r}.')
    if not 0.0 <= batch_norm_momentum < 1.0:
      raise ValueError(f'`batch_norm_momentum` must be in [0, 1); got '
                       f'{batch_norm_momentum!r}.')
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
      raise TypeError(f'`seed` must be an int; got {seed!r}.')

    self.dataset = dataset
    self.num_classes = num_classes
    self._image_shape = image_shape
    self.metrics = {}
    self.model_dir = None
    self._config = dict(
        dataset=dataset, num_classes=num_classes, image_shape=image_shape,
        block_filters=block_filters, dense_units=dense_units,
        dropout_rate=float(dropout_rate), batch_norm=batch_norm,
        batch_norm_momentum=float(batch_norm_momentum))
    self.network = self._build_network(int(seed))

    # One concrete function for every batch size: callers pass batches of
    # any length, and a retrace per length would cost seconds each.
    self._probabilities = tf.function(
        self._probabilities_graph,
        input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)])

  def _build_network(self, seed):
    """Returns the built `tf_keras.Sequential` (float32 [0, 1] -> logits)."""
    cfg = self._config
    # Each layer gets its own seed: one initializer seed reused across layers
    # would give every layer of the same shape identical weights.
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def kernel_init():
      return tf_keras.initializers.HeUniform(seed=next(seeds))

    layers = [tf_keras.Input(shape=self.image_shape, dtype=tf.float32)]
    for b, block in enumerate(cfg['block_filters']):
      for c, filters in enumerate(block):
        tag = f'block{b + 1}_conv{c + 1}'
        layers.append(tf_keras.layers.Conv2D(
            filters, 3, padding='same', use_bias=not cfg['batch_norm'],
            kernel_initializer=kernel_init(), name=tag))
        if cfg['batch_norm']:
          layers.append(tf_keras.layers.BatchNormalization(
              momentum=cfg['batch_norm_momentum'], name=tag + '_bn'))
        layers.append(tf_keras.layers.ReLU(name=tag + '_relu'))
      # 'same': an odd size (7 -> 4) pads the last row and column instead of
      # dropping them, so no border of the image is ignored.
      layers.append(tf_keras.layers.MaxPool2D(2, padding='same',
                                              name=f'block{b + 1}_pool'))
    layers += [
        tf_keras.layers.Flatten(name='flatten'),
        tf_keras.layers.Dense(cfg['dense_units'], activation='relu',
                              kernel_initializer=kernel_init(), name='dense'),
        tf_keras.layers.Dropout(cfg['dropout_rate'], seed=next(seeds),
                                name='dropout'),
        tf_keras.layers.Dense(
            cfg['num_classes'],
            kernel_initializer=tf_keras.initializers.GlorotUniform(
                seed=next(seeds)),
            name='logits'),
    ]
    return tf_keras.Sequential(layers, name='image_classifier')

  @property
  def image_shape(self):
    # A plain tuple: tf.Module wraps tuples stored on it for tracking.
    return tuple(int(d) for d in self._image_shape)

  # ------------------------------------------------------------- config

  def get_config(self):
    """Returns the constructor arguments as a JSON-serialisable dict."""
    cfg = dict(self._config)
    cfg['image_shape'] = list(cfg['image_shape'])
    cfg['block_filters'] = [list(block) for block in cfg['block_filters']]
    return cfg

  @classmethod
  def from_config(cls, config):
    """Builds an (untrained) classifier from `get_config()`'s dict."""
    if not isinstance(config, dict):
      raise TypeError(f'`config` must be a dict; got {type(config).__name__}.')
    return cls(**config)

  # ------------------------------------------------------------ weights

  @property
  def weights(self):
    """All network variables (trainable and batch-norm statistics), in a
    fixed order; `set_weights` takes arrays in the same order."""
    return list(self.network.weights)

  @property
  def trainable_variables(self):
    return tuple(self.network.trainable_variables)

  def get_weights(self):
    """Returns the weights as a list of float32 numpy arrays."""
    return [np.asarray(w.numpy(), dtype=np.float32) for w in self.weights]

  def set_weights(self, arrays):
    """Assigns arrays (as from `get_weights`) to the network's variables.

    Raises:
      ValueError: wrong number of arrays, a wrong shape, or non-finite
        values; the variables are unchanged then.
    """
    variables = self.weights
    arrays = [np.asarray(a) for a in arrays]
    if len(arrays) != len(variables):
      raise ValueError(f'expected {len(variables)} weight arrays, got '
                       f'{len(arrays)}.')
    for i, (v, a) in enumerate(zip(variables, arrays)):
      if tuple(a.shape) != tuple(v.shape):
        raise ValueError(f'weight {i} ({v.name}) must have shape '
                         f'{tuple(v.shape)}; got {tuple(a.shape)}.')
      if not np.issubdtype(a.dtype, np.floating) or not np.all(
          np.isfinite(a)):
        raise ValueError(f'weight {i} ({v.name}) must be finite floats.')
    for v, a in zip(variables, arrays):
      v.assign(a.astype(np.float32))

  # --------------------------------------------------------- inference

  def logits(self, images, training=False):
    """Logits of a batch, for use inside `tf.function`s (no input checks).

    Args:
      images: float32 tensor [N, height, width, channels] of grey levels in
        [0, 255] (not scaled).
      training: bool; True for batch statistics and dropout.

    Returns:
      float32 tensor [N, num_classes] of unnormalised log-probabilities.
    """
    return self.network(images / 255.0, training=training)

  def _probabilities_graph(self, images):
    return tf.nn.softmax(self.logits(images, training=False), axis=-1)

  def _check_images(self, images):
    """Returns `images` as a numpy array after validating it; see below."""
    if isinstance(images, tf.Tensor):
      images = images.numpy()
    images = np.asarray(images)
    if images.dtype == np.bool_ or not (
        np.issubdtype(images.dtype, np.integer)
        or np.issubdtype(images.dtype, np.floating)):
      raise TypeError(
          f'`images` must be grey levels as uint8 or float (integer and '
          f'float dtypes are accepted); got dtype {images.dtype}.')
    if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
      expected = ', '.join(map(str, self.image_shape))
      raise ValueError(f'`images` must have shape [N, {expected}]; got '
                       f'{list(images.shape)}.')
    if np.issubdtype(images.dtype, np.floating):
      finite = np.isfinite(images)
      if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f'`images` must be finite; {int((~finite).sum())} of '
            f'{images.size} values are NaN or inf (first at index {first}).')
      if images.dtype.itemsize > 4 and images.size:
        # float64 beyond float32's range would turn into inf on the cast.
        if np.max(np.abs(images)) > np.finfo(np.float32).max:
          raise ValueError('`images` has values beyond the float32 range.')
    return images

  def predict_proba(self, images, batch_size=1024):
    """Class probabilities of a set of images.

    Args:
      images: array-like [N, height, width, channels] of grey levels in
        [0, 255]: uint8, or any integer or float dtype (floats may lie
        somewhat outside [0, 255], e.g. noisy continuous images; they are
        not clipped). Scaled by 1/255 here.
      batch_size: positive int, images per forward pass (memory, not
        results).

    Returns:
      np.float32 array [N, num_classes]; each row sums to 1.

    Raises:
      TypeError: non-numeric (or bool/complex) dtype, or bad `batch_size`.
      ValueError: wrong rank or image shape, NaN or inf values.
    """
    batch_size = positive_int(batch_size, 'batch_size')
    images = self._check_images(images)
    out = np.empty((len(images), self.num_classes), np.float32)
    for start in range(0, len(images), batch_size):
      batch = np.asarray(images[start:start + batch_size], np.float32)
      out[start:start + len(batch)] = self._probabilities(
          tf.constant(batch)).numpy()
    return out

  def predict(self, images, batch_size=1024):
    """Most probable class of each image; arguments as `predict_proba`.

    Returns:
      np.int64 array [N] of class indices in [0, num_classes).
    """
    return np.argmax(self.predict_proba(images, batch_size),
                     axis=-1).astype(np.int64)

  @property
  def tracing_count(self):
    """How often the prediction function was traced (1 after first use)."""
    return self._probabilities.experimental_get_tracing_count()

  def __repr__(self):
    return (f'ImageClassifier(dataset={self.dataset!r}, '
            f'num_classes={self.num_classes}, '
            f'image_shape={self.image_shape}, '
            f'block_filters={self._config["block_filters"]}, '
            f'dense_units={self._config["dense_units"]}, '
            f'dropout_rate={self._config["dropout_rate"]}, '
            f'batch_norm={self._config["batch_norm"]}, '
            f'batch_norm_momentum={self._config["batch_norm_momentum"]})')
