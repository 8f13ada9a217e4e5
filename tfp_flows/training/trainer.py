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
from tfp_flows.models import evaluation
from tfp_flows.models import loading
from tfp_flows.training import model_dir as model_dir_lib
from tfp_flows.training import optimizers
from tfp_flows.training import steps
from tfp_flows.training import strategies
from tfp_flows.utils import atomic
from tfp_flows.utils import display
from tfp_flows.utils import ranking
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
          operative_config=None):
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
  if max_train_seconds is not None:
    if isinstance(max_train_seconds, bool) or not isinstance(
        max_train_seconds, (int, float)) or not max_train_seconds > 0:
      raise ValueError('`max_train_seconds` must be a positive number or '
                       f'None; got {max_train_seconds!r}.')
    if strategy == 'multi_worker':
      raise ValueError('`max_train_seconds` is not supported with strategy '
                       "'multi_worker': each worker would stop at a different "
                       'step. Bound the run with `num_steps` instead.')
  num_steps = positive_int(num_steps, 'num_steps')
  batch_size = positive_int(batch_size, 'batch_size')
  num_eval_images = positive_int(num_eval_images, 'num_eval_images')
  init_batch_size = positive_int(init_batch_size, 'init_batch_size')
  if not callable(model_fn):
    raise TypeError(f'`model_fn` must be callable; got {model_fn!r}.')
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
      restored_step = None
      if path is not None:
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
    last_checkpoint = path

    image_shape = list(model.image_shape)
    if list(train_images.shape[1:]) != image_shape:
      raise ValueError(f'Model image shape {image_shape} does not match '
                       f'{dataset} images {list(train_images.shape[1:])}.')
    if operative_config is not None and chief:
      _write_text(config_path, operative_config)
    if chief and type(model).__name__ in loading.MODEL_CLASSES:
      # What `models.load` rebuilds the model from, without gin.
      loading.write_model_json(model_dir, model, dataset)

    rng = np.random.default_rng(seed)
    initialized = False
    if hasattr(model, 'initialize'):
      init_batch = train_images[rng.choice(len(train_images), init_batch_size,
                                           replace=False)]
      initialized = model.initialize(init_batch, seed=seed, strategy=strat)
      if initialized:
        log(f'ActNorm data-dependent init on {init_batch_size} images.')
        if ema is not None:
          ema.reset_to_weights()
      elif restored_step is None:
        log('ActNorm already initialised.')

    start_step = int(optimizer.iterations.numpy())

    def dataset_fn(input_context):
      # Seeding with the start step gives a resumed run fresh batches.
      return data.make_dataset(train_images, batch_size=batch_size,
                               seed=seed * 1_000_003 + start_step,
                               input_context=input_context)
    iterator = iter(strat.distribute_datasets_from_function(dataset_fn))

    train_step = steps.make_train_step(
        model, optimizer, batch_size, strategy=strat, clip_norm=clip_norm,
        ema=ema, jit_compile=jit_compile)

    writer = tf.summary.create_file_writer(
        os.path.join(write_dir, 'train') if chief else
        os.path.join(write_dir, 'events'))
    if operative_config is not None and chief:
      with writer.as_default():
        tf.summary.text('operative_config',
                        '    ' + operative_config.replace('\n', '\n    '),
                        step=start_step)

    def evaluate(step):
      results = {}
      with (ema.swapped_in() if ema is not None else _null()):
        for name, images in eval_sets.items():
          bpd = evaluation.evaluate_bits_per_dim(model, images, eval_batch_size,
                                               seed=seed)
          results[name] = bpd
      in_bpd, ood_bpd = results[dataset], results[ood_dataset]
      auc = ranking.auroc(in_bpd, ood_bpd)
      summary = {name: float(v.mean()) for name, v in results.items()}
      summary['ood_auroc'] = auc
      # Both bits/dim definitions (`models.discrete`): they differ for padded
      # models.
      factor = model.per_model_pixel_factor
      per_model = ('' if factor == 1. else
                   f' ({factor * summary[dataset]:.4f} / '
                   f'{factor * summary[ood_dataset]:.4f} per model pixel)')
      log(f'  eval @ {step}: ' + ', '.join(
          f'{n} {v:.4f} bits/dim' for n, v in summary.items()
          if n != 'ood_auroc') + per_model + f', OoD AUROC {auc:.3f}')
      if chief:
        with writer.as_default():
          for name, bpd in results.items():
            tf.summary.scalar(f'eval/{name}/bits_per_dim', float(bpd.mean()),
                              step=step)
            tf.summary.scalar(f'eval/{name}/bits_per_model_pixel',
                              factor * float(bpd.mean()), step=step)
            tf.summary.histogram(f'eval/{name}/bits_per_dim_per_image', bpd,
                                 step=step)
          tf.summary.scalar('eval/ood_auroc', auc, step=step)
      return summary

    def write_samples(step):
      if not chief or not hasattr(model, 'sample'):
        return
      with (ema.swapped_in() if ema is not None else _null()), \
          writer.as_default():
        temps = (0.7, 1.0) if hasattr(model, 'encode') else (None,)
        for t in temps:
          kwargs = {} if t is None else {'temperature': t}
          imgs = model.sample(num_samples, seed=seed * 100_003 + step,
                              **kwargs).numpy()
          tag = 'samples' if t is None else f'samples/temperature_{t}'
          tf.summary.image(tag, display.image_grid(imgs), step=step)

    losses, skipped = [], []
    bad_in_a_row = 0
    last_eval = None
    # Throughput counts step time only (not evaluation, sampling, saving), and
    # not the first step, which includes tracing.
    train_seconds, timed_images, first_step_done = 0., 0, False
    log(f'Training {dataset} from step {start_step} to {num_steps}, global '
        f'batch {batch_size} on {replicas} replica(s).')
    step = start_step
    batch_index = 0
    stopped_early = False
    stop_signals.install()
    while step < num_steps:
      if stop_signals.received:
        break
      if (max_train_seconds is not None and
          time.perf_counter() - call_start_wall > max_train_seconds):
        stopped_early = True
        log(f'Time budget of {max_train_seconds:g} s spent at step {step}; '
            f'stopping before {num_steps} steps.')
        break
      images = next(iterator)
      if batch_hook is not None:
        images = _apply_hook(strat, batch_hook, batch_index, images)
      batch_index += 1
      seed_pair = tf.constant([seed, step], tf.int32)
      tick = time.perf_counter()
      loss, grad_norm, applied = train_step(images, seed_pair)
      loss, grad_norm, applied = float(loss), float(grad_norm), bool(applied)
      if first_step_done:
        train_seconds += time.perf_counter() - tick
        timed_images += batch_size
      first_step_done = True
      if not applied:
        bad_in_a_row += 1
        skipped.append(step)
        log(f'step {step}: non-finite loss ({loss}) or gradient norm '
            f'({grad_norm}); update skipped ({bad_in_a_row} in a row).')
        if bad_in_a_row >= max_consecutive_bad_steps:
          raise NonFiniteTrainingError(
              f'{bad_in_a_row} consecutive steps with non-finite loss or '
              f'gradients (last at step {step}); stopped. The last good '
              f'checkpoint is {last_checkpoint}.')
        continue
      bad_in_a_row = 0
      step = int(optimizer.iterations.numpy())
      losses.append(loss)
      img_s = (timed_images / train_seconds if train_seconds > 0 else
               float('nan'))
      if log_every and (step % log_every == 0 or step == num_steps):
        eta = (num_steps - step) * batch_size / img_s if img_s > 0 else float(
            'nan')
        log(f'step {step}/{num_steps}  loss {loss:.4f} bits/dim  grad norm '
            f'{grad_norm:.3g}  {img_s:.1f} img/s  ETA '
            f'{display.format_eta(eta)}')
      if chief and summary_every and step % summary_every == 0:
        with writer.as_default():
          tf.summary.scalar('train/loss', loss, step=step)
          tf.summary.scalar('train/bits_per_dim', loss, step=step)
          tf.summary.scalar('train/grad_norm', grad_norm, step=step)
          tf.summary.scalar(
              'train/learning_rate',
              float(tf.convert_to_tensor(optimizer.learning_rate)), step=step)
          if img_s == img_s:
            tf.summary.scalar('train/images_per_second', img_s, step=step)
      if checkpoint_every and step % checkpoint_every == 0:
        last_checkpoint = manager.save(checkpoint_number=step)
      if eval_every and step % eval_every == 0:
        last_eval = evaluate(step)
      if sample_every and step % sample_every == 0:
        write_samples(step)

    if last_checkpoint is None or not last_checkpoint.endswith(f'-{step}'):
      last_checkpoint = manager.save(checkpoint_number=step)
    if stop_signals.received:
      writer.flush()
      raise TrainingInterrupted(stop_signals.received, step, last_checkpoint)
    if last_eval is None or (eval_every and step % eval_every):
      last_eval = evaluate(step)
    writer.flush()
    return dict(step=step, losses=losses, skipped_steps=skipped, eval=last_eval,
                images_per_second=(timed_images / train_seconds
                                   if train_seconds else None),
                restored_step=restored_step, initialized_actnorm=initialized,
                checkpoint=last_checkpoint,
                stopped_early=stopped_early,
                wall_seconds=time.perf_counter() - call_start_wall,
                cpu_seconds=time.process_time() - call_start_cpu)
  finally:
    stop_signals.restore()
    lock.release()


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


class _null:
  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


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
