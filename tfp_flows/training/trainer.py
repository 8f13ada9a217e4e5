"""The trainer: maximum likelihood on a `tf.distribute` strategy.

One entry point, `train(model_dir, model_fn, ...)`, plain arguments (gin binds
them at the edge, see `tfp_flows.configurables` and `bin/train`):

* model, optimizer, EMA and checkpoint are built and restored inside
  `strategy.scope()`; input comes through `distribute_datasets_from_function`;
* the per-example loss (bits/dim) is reduced with `tf.nn.compute_average_loss`
  over the global batch; gradients are summed over replicas, clipped by global
  norm, and applied only if the loss and every gradient are finite;
* ActNorm's data-dependent init runs once, on a global batch, before the first
  step (never after a restore);
* periodic evaluation of bits/dim on the in-distribution test split and on the
  OoD set, TensorBoard summaries, console progress, checkpoints that resume.
"""

import functools
import os
import signal
import sys
import threading
import time

import numpy as np
import tensorflow as tf

from tfp_flows import data
from tfp_flows.models import checkpoints
from tfp_flows.models import ema as ema_lib
from tfp_flows.models import loading
from tfp_flows.training import model_dir as model_dir_lib
from tfp_flows.training import optimizers
from tfp_flows.training import reporting
from tfp_flows.training import steps
from tfp_flows.training import strategies
from tfp_flows.utils import atomic
from tfp_flows.utils import display
from tfp_flows.utils.validation import positive_int

__all__ = ['ConfigMismatchError', 'ModelDirLockedError',
           'NoIntactCheckpointError', 'NonFiniteTrainingError',
           'TrainingInterrupted', 'train']

ConfigMismatchError = model_dir_lib.ConfigMismatchError
NoIntactCheckpointError = model_dir_lib.NoIntactCheckpointError
ModelDirLockedError = model_dir_lib.ModelDirLockedError


class NonFiniteTrainingError(RuntimeError):
  """Too many consecutive steps with a non-finite loss or gradient."""


def _is_chief(strategy):
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  return (resolver.task_type == 'chief'
          or (resolver.task_type == 'worker' and resolver.task_id == 0
              and 'chief' not in resolver.cluster_spec().as_dict()))


def _write_dir(model_dir, strategy):
  """Where this worker writes: the model dir for the chief, a sub-dir else.

  Every worker of a multi-worker run must save (the save is collective);
  only the chief's files are the model's. Non-chief workers write under
  `model_dir/workers/<task>_<id>`, where they can be inspected.
  """
  if _is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return os.path.join(model_dir, 'workers',
                      f'{resolver.task_type}_{resolver.task_id}')


def _log_fn(verbose):
  def log(msg):
    if verbose:
      print(msg, flush=True)
  return log


def train(model_dir, model_fn, dataset='fashion_mnist', ood_dataset=None,
          num_steps=1000, batch_size=64, learning_rate=1e-3, warmup_steps=100,
          decay_steps=None, clip_norm=100.0, ema_decay=None,
          strategy='default', num_cpu_devices=2, jit_compile=False,
          checkpoint_every=200, keep_checkpoints=3, eval_every=500,
          num_eval_images=1000, eval_batch_size=256, log_every=50,
          summary_every=50, sample_every=1000, num_samples=16,
          init_batch_size=512, max_consecutive_bad_steps=10, seed=0,
          data_dir=None, max_train_seconds=None, batch_hook=None, verbose=True,
          operative_config=None, mutation_rate=0., l2_weight=0.):
  """Trains an image density model by maximum likelihood; resumes if possible.

  Args:
    model_dir: checkpoints, `operative_config.gin`, `model.json` (what
      `models.load` rebuilds the model from) and TensorBoard events go
      here; the newest intact checkpoint found there is resumed (with or
      without a `checkpoint` state file).
    model_fn: callable with no arguments returning an `ImageDensityModel`
      (e.g. a gin-configured `Glow`).
    dataset: training set name (`tfp_flows.data`); its `test` split is the
      in-distribution evaluation set.
    ood_dataset: OoD evaluation set (default: MNIST for FashionMNIST and vice
      versa, via `data.ood_dataset_for`).
    num_steps: final global step; a resumed run continues up to it.
    batch_size: global batch size (split over replicas).
    learning_rate, warmup_steps, decay_steps: Adam schedule (linear warm-up,
      optional cosine decay to 0 at `decay_steps`).
    clip_norm: clip gradients by global norm (None: no clipping).
    ema_decay: keep Polyak averages of the weights and evaluate with them.
    strategy: 'default', 'mirrored', 'multi_worker' or 'tpu'.
    num_cpu_devices: logical CPU replicas for 'mirrored' without GPUs.
    jit_compile: XLA-compile the gradient computation.
    checkpoint_every, eval_every, log_every, summary_every, sample_every:
      periods in steps (0 disables).
    keep_checkpoints: checkpoints kept by the manager.
    num_eval_images: test images per evaluation set (the first N).
    eval_batch_size: evaluation batch size.
    num_samples: images per sample grid.
    init_batch_size: images for ActNorm's data-dependent initialisation.
    max_consecutive_bad_steps: stop after this many skipped steps in a row.
    seed: seeds batch order, dequantisation noise and initialisation.
    data_dir: data cache (default `$TFP_FLOWS_DATA` or `~/.cache/tfp_flows`).
    max_train_seconds: optional wall-clock budget in seconds for this call,
      counted from its start (model building, tracing, evaluation
      included): once spent, training stops after the current step, saves a
      checkpoint and evaluates, so a bounded run (e.g. `bin/reproduce`)
      leaves a usable model. The learning-rate schedule is not rescaled.
      Not supported with 'multi_worker' (workers would stop at different
      steps). Default value: `None` (no budget).
    batch_hook: optional `(batch_index, images_float32) -> images_float32`
      applied to each global batch before its step; `batch_index` counts the
      batches drawn by this call (tests inject bad batches here).
    verbose: print progress.
    operative_config: text (or a callable returning it, called once the model
      is built) written to `model_dir/operative_config.gin` and TensorBoard;
      `bin/train` passes `gin.operative_config_str`. On resume it is first
      compared with the saved one (see Raises); allowed changes are logged.
    mutation_rate: fraction in [0, 1) of each training image's subpixels
      replaced by other grey levels (`training.mutation`): > 0 trains a
      background model for the likelihood-ratio score. Evaluations score
      the unmutated test images. Default value: `0.`.
    l2_weight: weight >= 0 of an L2 penalty on all trainable variables,
      added to the bits/dim objective. Default value: `0.`.

  Returns:
    dict: `step` (final), `losses` (bits/dim of each step run here),
    `skipped_steps`, `eval` (last evaluation), `images_per_second`,
    `restored_step` (None if started fresh), `initialized_actnorm`,
    `checkpoint` (path), `stopped_early` (the time budget ran out before
    `num_steps`), `wall_seconds` and `cpu_seconds` (this process's CPU time,
    all threads) spent in this call.

  Raises:
    NonFiniteTrainingError: after `max_consecutive_bad_steps` bad steps; the
      last good checkpoint is kept.
    NoIntactCheckpointError: `model_dir` has checkpoints but none can be
      read (a damaged newest one is skipped, with a warning, in favour of
      the newest intact one).
    TrainingInterrupted: SIGTERM (e.g. preemption) or SIGINT (Ctrl-C)
      arrived; training stopped after the current step and saved a
      checkpoint at it first (not with 'multi_worker').
    ModelDirLockedError: another live process is training in `model_dir`
      (a lock left by a dead one is taken over, with a warning).
    ConfigMismatchError: resuming with an `operative_config` that differs
      from the saved one in more than run-length and logging knobs
      (`model_dir.RESUMABLE_BINDINGS`); nothing is written then.
  """
  log = _log_fn(verbose)
  call_start_wall, call_start_cpu = time.perf_counter(), time.process_time()
  num_steps, batch_size, num_eval_images, init_batch_size = _check_arguments(
      model_fn, num_steps, batch_size, num_eval_images, init_batch_size,
      max_train_seconds, strategy)
  mutation_rate, l2_weight = steps.check_regularisers(mutation_rate,
                                                      l2_weight)
  ood_dataset = ood_dataset or data.ood_dataset_for(dataset)
  strat = strategies.make_strategy(strategy, num_cpu_devices)
  replicas = strat.num_replicas_in_sync
  if batch_size % replicas:
    raise ValueError(f'`batch_size` ({batch_size}) must be divisible by the '
                     f'{replicas} replicas.')
  chief = _is_chief(strat)
  write_dir = _write_dir(model_dir, strat)
  os.makedirs(write_dir, exist_ok=True)
  # One trainer per directory: a second one would overwrite the first's
  # checkpoints while both report success.
  lock = model_dir_lib.ModelDirLock(write_dir)
  took_over = lock.acquire()
  if took_over:
    _warn(f'{took_over}.')
  # Multi-worker saves are collective: a signal reaching one worker only
  # cannot save alone, so there the default handlers stay.
  stop_signals = _StopSignals(log, enabled=strategy != 'multi_worker')
  try:
    train_images, _ = data.load(dataset, 'train', data_dir=data_dir)
    eval_sets = {
        name: data.load(name, 'test', data_dir=data_dir)[0][:num_eval_images]
        for name in dict.fromkeys([dataset, ood_dataset])}
    with strat.scope():
      model = model_fn()
      if callable(operative_config):
        # Evaluated now: gin's operative config lists the model's parameters
        # only once the model has been built.
        operative_config = operative_config()
      state = _build_or_restore(model, model_dir, write_dir, operative_config,
                                learning_rate, warmup_steps, decay_steps,
                                ema_decay, keep_checkpoints, log)
    _check_image_shape(model, train_images, dataset)
    if chief:
      _write_model_files(model_dir, model, dataset, operative_config,
                         dict(mutation_rate=mutation_rate,
                              l2_weight=l2_weight))
    initialized = _initialize_actnorm(model, state, train_images,
                                      init_batch_size, seed, strat, log)
    start_step = int(state.optimizer.iterations.numpy())

    def dataset_fn(input_context):
      # Seeding with the start step gives a resumed run fresh batches.
      return data.make_dataset(train_images, batch_size=batch_size,
                               seed=seed * 1_000_003 + start_step,
                               input_context=input_context)
    iterator = iter(strat.distribute_datasets_from_function(dataset_fn))
    train_step = steps.make_train_step(
        model, state.optimizer, batch_size, strategy=strat,
        clip_norm=clip_norm, ema=state.ema, jit_compile=jit_compile,
        mutation_rate=mutation_rate, l2_weight=l2_weight)
    reporter = reporting.RunReporter(
        model, state.ema, tf.summary.create_file_writer(
            os.path.join(write_dir, 'train' if chief else 'events')),
        chief, log, eval_sets, eval_batch_size, seed, num_samples)
    if operative_config is not None:
      reporter.operative_config(operative_config, start_step)
    log(f'Training {dataset} from step {start_step} to {num_steps}, global '
        f'batch {batch_size} on {replicas} replica(s).')
    stop_signals.install()
    loop = _TrainingLoop(
        train_step, iterator, state, reporter, stop_signals, log,
        num_steps=num_steps, batch_size=batch_size, seed=seed,
        log_every=log_every, summary_every=summary_every,
        checkpoint_every=checkpoint_every, eval_every=eval_every,
        sample_every=sample_every,
        max_consecutive_bad_steps=max_consecutive_bad_steps,
        budget=(None if max_train_seconds is None
                else (call_start_wall, max_train_seconds)),
        batch_hook=batch_hook and functools.partial(_apply_hook, strat,
                                                    batch_hook))
    loop.run(start_step)
    return dict(step=loop.step, losses=loop.losses,
                skipped_steps=loop.skipped, eval=loop.last_eval,
                images_per_second=loop.images_per_second(),
                restored_step=state.restored_step,
                initialized_actnorm=initialized,
                checkpoint=loop.last_checkpoint,
                stopped_early=loop.stopped_early,
                wall_seconds=time.perf_counter() - call_start_wall,
                cpu_seconds=time.process_time() - call_start_cpu)
  finally:
    stop_signals.restore()
    lock.release()


def _check_arguments(model_fn, num_steps, batch_size, num_eval_images,
                     init_batch_size, max_train_seconds, strategy):
  """The validated counts `(num_steps, batch_size, num_eval_images,
  init_batch_size)`; raises ValueError/TypeError naming a bad argument."""
  if max_train_seconds is not None:
    if isinstance(max_train_seconds, bool) or not isinstance(
        max_train_seconds, (int, float)) or not max_train_seconds > 0:
      raise ValueError('`max_train_seconds` must be a positive number or '
                       f'None; got {max_train_seconds!r}.')
    if strategy == 'multi_worker':
      raise ValueError('`max_train_seconds` is not supported with strategy '
                       "'multi_worker': each worker would stop at a different "
                       'step. Bound the run with `num_steps` instead.')
  counts = (positive_int(num_steps, 'num_steps'),
            positive_int(batch_size, 'batch_size'),
            positive_int(num_eval_images, 'num_eval_images'),
            positive_int(init_batch_size, 'init_batch_size'))
  if not callable(model_fn):
    raise TypeError(f'`model_fn` must be callable; got {model_fn!r}.')
  return counts


class _RunState:
  """The restorable state of a run: optimizer, EMA, checkpoint manager."""

  def __init__(self, optimizer, ema, checkpoint, manager, restored_path):
    self.optimizer, self.ema = optimizer, ema
    self.checkpoint, self.manager = checkpoint, manager
    self.restored_path = restored_path
    self.restored_step = (None if restored_path is None
                          else int(optimizer.iterations.numpy()))


def _build_or_restore(model, model_dir, write_dir, operative_config,
                      learning_rate, warmup_steps, decay_steps, ema_decay,
                      keep_checkpoints, log):
  """Builds optimizer, EMA and checkpoint (in the strategy's scope) and
  restores the newest intact checkpoint, after checking a resume's config."""
  config_path = os.path.join(model_dir, 'operative_config.gin')
  # Every checkpoint on disk, named by the `checkpoint` state file or not
  # (a run copied without that file must resume, not start over and
  # overwrite its checkpoints).
  candidates = checkpoints.checkpoint_paths(write_dir)
  if (operative_config is not None and candidates
      and os.path.exists(config_path)):
    # Before anything is restored or written: a resume must not relabel
    # the run (e.g. train on another data set under the same model dir).
    with open(config_path) as f:
      changes = model_dir_lib.compare_configs(f.read(), operative_config,
                                              config_path)
    for change in changes:
      log(f'Resuming with a changed setting: {change}.')
  variables = model.trainable_variables
  optimizer = optimizers.make_optimizer(learning_rate, warmup_steps,
                                        decay_steps)
  optimizer.build(variables)
  ema = (ema_lib.ExponentialMovingAverage(variables, ema_decay)
         if ema_decay else None)
  # `step` names the optimizer's step counter at the top of the checkpoint.
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                   step=optimizer.iterations,
                                   **({'ema': ema} if ema else {}))
  manager = tf.train.CheckpointManager(checkpoint, write_dir,
                                       max_to_keep=keep_checkpoints)
  if candidates and not manager.latest_checkpoint:
    _warn(f'{write_dir} has checkpoints but no `checkpoint` state file; '
          'resuming from the newest intact one.')
  path = _newest_intact(candidates, write_dir, log)
  if path is not None:
    _restore(checkpoint, path, optimizer, ema, ema_decay, log)
  return _RunState(optimizer, ema, checkpoint, manager, path)


def _restore(checkpoint, path, optimizer, ema, ema_decay, log):
  """Restores `path`, reconciling EMA shadows the checkpoint lacks."""
  status = checkpoint.restore(path)
  keys = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  restored_step = int(optimizer.iterations.numpy())
  if ema is not None and not any(k.startswith('ema/') for k in keys):
    # Trained without EMA until now: the shadows still hold the random
    # initial weights, so they start again from the restored weights.
    status.expect_partial()
    ema.reset_to_weights()
    ema.num_updates.assign(0)
    log(f'EMA (decay {ema_decay:g}) added on resume: {path} has no '
        'averages, so they start from its weights at step '
        f'{restored_step}.')
  elif ema is not None and not any('num_updates' in k for k in keys):
    # Written before the EMA counted its updates: every applied step
    # updated it, so the step is the count.
    status.expect_partial()
    ema.num_updates.assign(optimizer.iterations)
  else:
    status.assert_existing_objects_matched()
  log(f'Restored {path} at step {restored_step}.')


def _check_image_shape(model, train_images, dataset):
  image_shape = list(model.image_shape)
  if list(train_images.shape[1:]) != image_shape:
    raise ValueError(f'Model image shape {image_shape} does not match '
                     f'{dataset} images {list(train_images.shape[1:])}.')


def _write_model_files(model_dir, model, dataset, operative_config,
                       training):
  """`operative_config.gin` and `model.json` (what `models.load` reads)."""
  if operative_config is not None:
    _write_text(os.path.join(model_dir, 'operative_config.gin'),
                operative_config)
  if type(model).__name__ in loading.MODEL_CLASSES:
    loading.write_model_json(model_dir, model, dataset, training)


def _initialize_actnorm(model, state, train_images, init_batch_size, seed,
                        strat, log):
  """ActNorm's data-dependent init, once, before the first step (never
  after a restore); returns whether it ran."""
  if not hasattr(model, 'initialize'):
    return False
  rng = np.random.default_rng(seed)
  init_batch = train_images[rng.choice(len(train_images), init_batch_size,
                                       replace=False)]
  initialized = model.initialize(init_batch, seed=seed, strategy=strat)
  if initialized:
    log(f'ActNorm data-dependent init on {init_batch_size} images.')
    if state.ema is not None:
      state.ema.reset_to_weights()
  elif state.restored_step is None:
    log('ActNorm already initialised.')
  return initialized


class _TrainingLoop:
  """Steps until `num_steps`, a stop signal or the time budget (`(start,
  seconds)` of `time.perf_counter`, or None); saves, logs, evaluates and
  samples on their periods (0 disables one)."""

  def __init__(self, train_step, iterator, state, reporter, stop_signals,
               log, num_steps, batch_size, seed, log_every, summary_every,
               checkpoint_every, eval_every, sample_every,
               max_consecutive_bad_steps, budget, batch_hook):
    self.train_step, self.iterator, self.state = train_step, iterator, state
    self.reporter, self.stop_signals, self.log = reporter, stop_signals, log
    self.num_steps, self.batch_size, self.seed = num_steps, batch_size, seed
    self.log_every, self.summary_every = log_every, summary_every
    self.checkpoint_every, self.eval_every = checkpoint_every, eval_every
    self.sample_every = sample_every
    self.max_bad = max_consecutive_bad_steps
    self.budget, self.batch_hook = budget, batch_hook
    self.losses, self.skipped = [], []
    self.last_eval, self.stopped_early = None, False
    self.last_checkpoint = state.restored_path
    # Throughput counts step time only (not evaluation, sampling, saving),
    # and not the first step, which includes tracing.
    self.train_seconds, self.timed_images = 0., 0
    self.step = None

  def images_per_second(self):
    return (self.timed_images / self.train_seconds if self.train_seconds
            else None)

  def _should_stop(self):
    if self.stop_signals.received:
      return True
    if self.budget is not None:
      start, seconds = self.budget
      if time.perf_counter() - start > seconds:
        self.stopped_early = True
        self.log(f'Time budget of {seconds:g} s spent at step {self.step}; '
                 f'stopping before {self.num_steps} steps.')
        return True
    return False

  def run(self, start_step):
    """Trains; raises `TrainingInterrupted` after saving on a signal."""
    self.step, bad_in_a_row, batch_index = start_step, 0, 0
    while self.step < self.num_steps and not self._should_stop():
      images = next(self.iterator)
      if self.batch_hook is not None:
        images = self.batch_hook(batch_index, images)
      batch_index += 1
      tick = time.perf_counter()
      loss, grad_norm, applied = self.train_step(
          images, tf.constant([self.seed, self.step], tf.int32))
      loss, grad_norm, applied = float(loss), float(grad_norm), bool(applied)
      if batch_index > 1:
        self.train_seconds += time.perf_counter() - tick
        self.timed_images += self.batch_size
      if not applied:
        bad_in_a_row += 1
        self._skip(loss, grad_norm, bad_in_a_row)
        continue
      bad_in_a_row = 0
      self.step = int(self.state.optimizer.iterations.numpy())
      self.losses.append(loss)
      self._periodic(loss, grad_norm)
    self._finish()

  def _skip(self, loss, grad_norm, bad_in_a_row):
    self.skipped.append(self.step)
    self.log(f'step {self.step}: non-finite loss ({loss}) or gradient norm '
             f'({grad_norm}); update skipped ({bad_in_a_row} in a row).')
    if bad_in_a_row >= self.max_bad:
      raise NonFiniteTrainingError(
          f'{bad_in_a_row} consecutive steps with non-finite loss or '
          f'gradients (last at step {self.step}); stopped. The last good '
          f'checkpoint is {self.last_checkpoint}.')

  def _due(self, every):
    return every and self.step % every == 0

  def _periodic(self, loss, grad_norm):
    step, img_s = self.step, self.images_per_second() or float('nan')
    if self.log_every and (self._due(self.log_every)
                           or step == self.num_steps):
      eta = ((self.num_steps - step) * self.batch_size / img_s
             if img_s > 0 else float('nan'))
      self.log(f'step {step}/{self.num_steps}  loss {loss:.4f} bits/dim  '
               f'grad norm {grad_norm:.3g}  {img_s:.1f} img/s  ETA '
               f'{display.format_eta(eta)}')
    if self._due(self.summary_every):
      learning_rate = float(tf.convert_to_tensor(
          self.state.optimizer.learning_rate))
      self.reporter.training_scalars(step, loss, grad_norm, learning_rate,
                                     img_s)
    if self._due(self.checkpoint_every):
      self.last_checkpoint = self.state.manager.save(checkpoint_number=step)
    if self._due(self.eval_every):
      self.last_eval = self.reporter.evaluate(step)
    if self._due(self.sample_every):
      self.reporter.samples(step)

  def _finish(self):
    """Saves the final step, evaluates it if not done yet."""
    step = self.step
    if (self.last_checkpoint is None
        or not self.last_checkpoint.endswith(f'-{step}')):
      self.last_checkpoint = self.state.manager.save(checkpoint_number=step)
    if self.stop_signals.received:
      self.reporter.flush()
      raise TrainingInterrupted(self.stop_signals.received, step,
                                self.last_checkpoint)
    if self.last_eval is None or (self.eval_every
                                  and step % self.eval_every):
      self.last_eval = self.reporter.evaluate(step)
    self.reporter.flush()


class TrainingInterrupted(RuntimeError):
  """SIGTERM or SIGINT stopped training; a checkpoint was saved first.

  Attributes:
    signal_number: the signal's number (e.g. 15 for SIGTERM).
    step: the step of the saved checkpoint.
    checkpoint: its path.
  """

  def __init__(self, signal_number, step, checkpoint):
    self.signal_number, self.step, self.checkpoint = (signal_number, step,
                                                      checkpoint)
    super().__init__(
        f'{signal.Signals(signal_number).name} at step {step}: saved '
        f'checkpoint {checkpoint}; the same command resumes from it.')


class _StopSignals:
  """Turns SIGTERM and SIGINT into a request to stop after the current step.

  Preemption (cloud VMs, TPUs) sends SIGTERM with a grace period; Ctrl-C
  sends SIGINT. A second signal while the first is handled stops at once
  (KeyboardInterrupt). Handlers can only be set in the main thread;
  elsewhere, or when not `enabled`, the process keeps its handlers.
  """

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, log, enabled=True):
    self.log = log
    self.enabled = enabled
    self.received = None
    self._previous = {}

  def _handle(self, signal_number, frame):
    del frame
    if self.received is not None:
      self.restore()
      raise KeyboardInterrupt(
          f'second {signal.Signals(signal_number).name}: stopping at once')
    self.received = signal_number
    self.log(f'{signal.Signals(signal_number).name} received: saving a '
             'checkpoint after this step, then stopping.')

  def install(self):
    if not self.enabled or (threading.current_thread() is not
                            threading.main_thread()):
      return
    for sig in self._SIGNALS:
      self._previous[sig] = signal.signal(sig, self._handle)

  def restore(self):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}


def _warn(message):
  print(f'WARNING: {message}', file=sys.stderr, flush=True)


def _newest_intact(candidates, directory, log):
  """The newest checkpoint of `candidates` that reads in full, or None.

  Damaged ones are skipped with a warning that names the file and the
  damage. If there are checkpoints but none is intact, starting afresh
  would overwrite them: that is refused.
  """
  reasons = []
  for path in candidates:
    damage = checkpoints.checkpoint_damage(path)
    if damage is None:
      if reasons:
        log(f'Falling back to {path}.')
      return path
    reasons.append(damage)
    _warn(f'skipping checkpoint {path}: {damage}.')
  if reasons:
    raise model_dir_lib.NoIntactCheckpointError(
        f'{directory} has checkpoints but none is intact ({"; ".join(reasons)})'
        '; refusing to start over, which would overwrite them. Move them '
        'elsewhere to train afresh.')
  return None


def _apply_hook(strat, hook, batch_index, images):
  """Applies `hook` to the global batch (only on a single replica)."""
  if strat.num_replicas_in_sync != 1:
    raise ValueError('`batch_hook` is only supported with one replica.')
  # Kept in float32 so a hook can inject non-finite values.
  return tf.convert_to_tensor(hook(batch_index, tf.cast(images, tf.float32)),
                              tf.float32)


def _write_text(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  atomic.atomic_write_text(path, text)
