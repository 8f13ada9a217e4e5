"""Trains, evaluates and saves an `ImageClassifier` on FashionMNIST or MNIST.

Plain arguments throughout; gin binds `train_classifier` at the edge
(`tfp_flows.classifiers.configurables`, `bin/train_classifier`).

Training is plain supervised learning on the training split: Adam with a
cosine learning-rate decay to 0 over all steps, softmax cross-entropy, and
**no data augmentation** of any kind. The classifier is the measuring
instrument of the semantics study: an augmentation (random translations,
flips, noise) would teach it an invariance to exactly the transformations
whose effect on the label is being measured.
"""

import hashlib
import io
import math
import numbers
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows import data
from tfp_flows.data import catalog
from tfp_flows.classifiers import cnn
from tfp_flows.classifiers import loading
from tfp_flows.utils import atomic
from tfp_flows.utils.validation import positive_int

__all__ = ['evaluate_classifier', 'save_classifier', 'train_classifier']


def _check_int(name, value, minimum):
  """`value` as an `int` >= `minimum` (`seed`; counts use `positive_int`)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise TypeError(f'`{name}` must be an int >= {minimum}; got '
                    f'{type(value).__name__}: {value!r}.')
  if value < minimum:
    raise ValueError(f'`{name}` must be an int >= {minimum}; got {value!r}.')
  return int(value)


def evaluate_classifier(classifier, images, labels, batch_size=1024):
  """Accuracy of `classifier` on labelled images.

  Args:
    classifier: an `ImageClassifier`.
    images: [N, 28, 28, 1] grey levels in [0, 255] (see `predict_proba`).
    labels: int array [N] of class indices.
    batch_size: images per forward pass.

  Returns:
    float, fraction of images classified correctly, in [0, 1].

  Raises:
    ValueError: `labels` not of shape [N] or outside [0, num_classes).
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or len(labels) != len(images):
    raise ValueError(f'`labels` must have shape [{len(images)}]; got '
                     f'{list(labels.shape)}.')
  if not np.issubdtype(labels.dtype, np.integer):
    raise TypeError(f'`labels` must be integers; got dtype {labels.dtype}.')
  if len(labels) == 0:
    raise ValueError('`images` and `labels` are empty.')
  if labels.min() < 0 or labels.max() >= classifier.num_classes:
    raise ValueError(f'`labels` must be in [0, {classifier.num_classes}); '
                     f'got values in [{labels.min()}, {labels.max()}].')
  predictions = classifier.predict(images, batch_size=batch_size)
  return float(np.mean(predictions == labels))


def save_classifier(classifier, model_dir, metrics=None, training=None):
  """Writes `classifier` to `model_dir` (see `tfp_flows.classifiers.loading`).

  Each file is written atomically (temporary file in `model_dir`, fsync,
  `os.replace`): the weights first, then `classifier.json`, which records
  the weights' SHA-256. An interruption at any point leaves either the old
  pair, or a new weights file that `load_classifier` rejects as not matching
  the json; never a half-written file.

  Args:
    classifier: the `ImageClassifier` to save.
    model_dir: str or os.PathLike; created if missing.
    metrics: optional JSON-serialisable dict stored under "metrics".
    training: optional JSON-serialisable dict of training arguments.

  Returns:
    str, the path of the written `classifier.json`.
  """
  model_dir = os.fspath(model_dir)
  buffer = io.BytesIO()
  np.savez(buffer, **{f'w{i:03d}': a
                      for i, a in enumerate(classifier.get_weights())})
  blob = buffer.getvalue()
  atomic.atomic_write_bytes(os.path.join(model_dir, loading.WEIGHTS_FILENAME),
                            blob)
  record = {
      'format_version': loading.FORMAT_VERSION,
      'config': classifier.get_config(),
      'weights_file': loading.WEIGHTS_FILENAME,
      'weights_sha256': hashlib.sha256(blob).hexdigest(),
      'weight_names': [v.name for v in classifier.weights],
      'training': dict(training or {}),
      'metrics': dict(metrics or {}),
      'versions': {'tensorflow': tf.__version__,
                   'tf_keras': tf_keras.__version__,
                   'numpy': np.__version__},
  }
  config_path = os.path.join(model_dir, loading.CONFIG_FILENAME)
  atomic.atomic_write_json(config_path, record)
  return config_path


def _log_fn(verbose):
  def log(message):
    if verbose:
      print(message, flush=True)
  return log


def train_classifier(dataset, model_dir, epochs=10, batch_size=128,
                     learning_rate=1e-3, seed=0, num_train_examples=None,
                     block_filters=((16,), (32,), (64,)), dense_units=256,
                     dropout_rate=0.25, batch_norm=True,
                     batch_norm_momentum=0.99, eval_every_epoch=False,
                     data_dir=None, verbose=True):
  """Trains an `ImageClassifier`, evaluates it on the test split, saves it.

  The first `num_train_examples` images of the training split are seen once
  per epoch in a fresh random order (the last batch may be smaller). Before
  training, Python's, NumPy's and TensorFlow's global seeds are set from
  `seed` (`tf_keras.utils.set_random_seed`); with the seeded initialisers
  and batch order, the same arguments give the same classifier up to the
  nondeterminism of TensorFlow's multithreaded CPU kernels.

  Args:
    dataset: 'fashion_mnist' or 'mnist'.
    model_dir: str or os.PathLike; `weights.npz` and `classifier.json` are
      written here (created if missing; an existing classifier is replaced
      only once the new one is trained).
    epochs: int >= 1, passes over the training images.
    batch_size: int >= 1, images per gradient step.
    learning_rate: float > 0, Adam's initial learning rate; it decays to 0
      along a cosine over all steps.
    seed: int >= 0, seeds initialisation, dropout and batch order.
    num_train_examples: None (all 60,000) or an int in 1..60,000 to train on
      the first N training images only (tests, quick runs).
    block_filters, dense_units, dropout_rate, batch_norm,
      batch_norm_momentum: the architecture, see `ImageClassifier` (use
      `batch_norm_momentum=0.9` for runs of a few hundred steps).
    eval_every_epoch: also report test accuracy after every epoch (costs a
      pass over the 10,000 test images each time; reporting only, nothing is
      selected on it).
    data_dir: data cache (default `$TFP_FLOWS_DATA` or `~/.cache/tfp_flows`).
    verbose: print progress (one line per epoch) to stdout.

  Returns:
    dict of metrics (also stored in `classifier.json`): `dataset`,
    `test_accuracy` (float in [0, 1], on the full 10,000-image test split),
    `num_test_examples`, `train_seconds` (wall time of the training steps,
    tracing included, evaluation excluded), `images_per_second` (training
    images / train_seconds), `eval_seconds` (the final test-set pass),
    `epochs`, `num_train_examples`, `steps`,
    `final_train_loss` and `final_train_accuracy` (means over the last epoch,
    dropout active), `epoch_history` (per-epoch dicts) and `model_dir`.

  Raises:
    TypeError, ValueError: a bad argument (named in the message).
    FileNotFoundError, CorruptDataError: the data cache is not usable.
  """
  log = _log_fn(verbose)
  catalog.check_real_dataset_name(dataset)
  if not isinstance(model_dir, (str, os.PathLike)):
    raise TypeError(f'`model_dir` must be a path; got {model_dir!r}.')
  model_dir = os.fspath(model_dir)
  if os.path.exists(model_dir) and not os.path.isdir(model_dir):
    raise ValueError(f'`model_dir` {model_dir!r} exists and is not a '
                     'directory.')
  epochs = positive_int(epochs, 'epochs')
  batch_size = positive_int(batch_size, 'batch_size')
  seed = _check_int('seed', seed, minimum=0)
  num_train_examples = (None if num_train_examples is None else positive_int(
      num_train_examples, 'num_train_examples'))
  if (isinstance(learning_rate, bool)
      or not isinstance(learning_rate, numbers.Real)
      or not math.isfinite(learning_rate) or learning_rate <= 0):
    raise ValueError(f'`learning_rate` must be a finite float > 0; got '
                     f'{learning_rate!r}.')
  for name, value in (('eval_every_epoch', eval_every_epoch),
                      ('verbose', verbose)):
    if not isinstance(value, bool):
      raise TypeError(f'`{name}` must be a bool; got {value!r}.')
  total = data.SPLIT_SIZES['train']
  if num_train_examples is not None and num_train_examples > total:
    raise ValueError(f'`num_train_examples` must be in 1..{total}; got '
                     f'{num_train_examples}.')
  # Built before loading data or creating directories: architecture errors
  # surface at once.
  tf_keras.utils.set_random_seed(seed)
  classifier = cnn.ImageClassifier(
      dataset, num_classes=data.NUM_CLASSES, image_shape=data.IMAGE_SHAPE,
      block_filters=block_filters, dense_units=dense_units,
      dropout_rate=dropout_rate, batch_norm=batch_norm,
      batch_norm_momentum=batch_norm_momentum, seed=seed)

  train_images, train_labels = data.load(dataset, 'train', data_dir=data_dir,
                                         num_examples=num_train_examples)
  test_images, test_labels = data.load(dataset, 'test', data_dir=data_dir)
  # Fails early (permissions, a file in the way) rather than after training.
  os.makedirs(model_dir, exist_ok=True)

  n = len(train_labels)
  steps_per_epoch = -(-n // batch_size)
  num_steps = steps_per_epoch * epochs
  schedule = tf_keras.optimizers.schedules.CosineDecay(
      initial_learning_rate=float(learning_rate), decay_steps=num_steps,
      alpha=0.0)
  optimizer = tf_keras.optimizers.Adam(learning_rate=schedule)
  variables = classifier.trainable_variables
  optimizer.build(variables)

  @tf.function(input_signature=[
      tf.TensorSpec([None, *data.IMAGE_SHAPE], tf.uint8),
      tf.TensorSpec([None], tf.int64)])
  def train_step(images, labels):
    with tf.GradientTape() as tape:
      logits = classifier.logits(tf.cast(images, tf.float32), training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=labels, logits=logits))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    correct = tf.reduce_sum(tf.cast(
        tf.equal(tf.argmax(logits, axis=-1), labels), tf.int64))
    return loss, correct

  log(f'train_classifier: {dataset}, {n} training images, {epochs} epochs x '
      f'{steps_per_epoch} steps of {batch_size}, lr {learning_rate:g} '
      f'(cosine decay), seed {seed}.')
  rng = np.random.default_rng(seed)
  history = []
  train_seconds = 0.0
  for epoch in range(1, epochs + 1):
    order = rng.permutation(n)
    loss_sum = 0.0
    correct_sum = 0
    start = time.perf_counter()
    for first in range(0, n, batch_size):
      idx = order[first:first + batch_size]
      loss, correct = train_step(tf.constant(train_images[idx]),
                                 tf.constant(train_labels[idx]))
      # Weighted by batch length: the last batch may be smaller.
      loss_sum += float(loss) * len(idx)
      correct_sum += int(correct)
    seconds = time.perf_counter() - start
    train_seconds += seconds
    if not math.isfinite(loss_sum):
      raise FloatingPointError(
          f'training loss became non-finite in epoch {epoch}; lower '
          f'`learning_rate` (now {learning_rate:g}).')
    record = {'epoch': epoch, 'train_loss': loss_sum / n,
              'train_accuracy': correct_sum / n, 'seconds': seconds,
              'images_per_second': n / seconds}
    line = (f'epoch {epoch}/{epochs}: loss {record["train_loss"]:.4f}, '
            f'train acc {record["train_accuracy"]:.4f}, {seconds:.1f} s '
            f'({record["images_per_second"]:.0f} img/s)')
    if eval_every_epoch and epoch < epochs:
      record['test_accuracy'] = evaluate_classifier(classifier, test_images,
                                                    test_labels)
      line += f', test acc {record["test_accuracy"]:.4f}'
    history.append(record)
    log(line)

  eval_start = time.perf_counter()
  test_accuracy = evaluate_classifier(classifier, test_images, test_labels)
  eval_seconds = time.perf_counter() - eval_start
  history[-1]['test_accuracy'] = test_accuracy
  metrics = {
      'dataset': dataset,
      'test_accuracy': test_accuracy,
      'num_test_examples': len(test_labels),
      'train_seconds': train_seconds,
      'images_per_second': n * epochs / train_seconds,
      'eval_seconds': eval_seconds,
      'epochs': epochs,
      'num_train_examples': n,
      'steps': num_steps,
      'final_train_loss': history[-1]['train_loss'],
      'final_train_accuracy': history[-1]['train_accuracy'],
      'epoch_history': history,
  }
  training_args = {
      'epochs': epochs, 'batch_size': batch_size,
      'learning_rate': float(learning_rate), 'seed': seed,
      'num_train_examples': num_train_examples,
      'optimizer': 'adam, cosine decay to 0', 'augmentation': 'none'}
  config_path = save_classifier(classifier, model_dir, metrics=metrics,
                                training=training_args)
  log(f'train_classifier: test accuracy {test_accuracy:.4f} on '
      f'{len(test_labels)} {dataset} test images; {train_seconds:.1f} s '
      f'training ({metrics["images_per_second"]:.0f} img/s); saved '
      f'{config_path}')
  metrics['model_dir'] = model_dir
  return metrics
