"""The trainer: learning, resuming after SIGKILL, strategies, NaN guard, summaries."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.models import ema as ema_lib
from tfp_flows.training import trainer

import tiny_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_train_cli(model_dir, *params, config='tiny_glow'):
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'train'),
         '--gin_file=' + os.path.join(REPO, 'gin_configs', config + '.gin'),
         f'--model_dir={model_dir}']
  cmd += [f'--gin_param={p}' for p in params]
  return cmd


@pytest.mark.slow
def test_tiny_glow_loss_falls(tmp_path):
  result = tiny_runs.train_tiny(tmp_path, num_steps=30, learning_rate=2e-3)
  losses = result['losses']
  assert len(losses) == 30 and np.all(np.isfinite(losses))
  assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2
  assert result['restored_step'] is None and result['initialized_actnorm']


@pytest.mark.slow
def test_resume_continues_from_checkpoint_without_reinit(tmp_path):
  first = tiny_runs.train_tiny(tmp_path, num_steps=10, checkpoint_every=5)
  assert first['step'] == 10
  second = tiny_runs.train_tiny(tmp_path, num_steps=15, checkpoint_every=5)
  assert second['restored_step'] == 10
  assert not second['initialized_actnorm']
  assert second['step'] == 15 and len(second['losses']) == 5


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
  model_dir = tmp_path / 'run'
  params = ['train.num_steps = 400', 'train.checkpoint_every = 5',
            'train.eval_every = 0', 'train.sample_every = 0',
            'train.log_every = 1']
  proc = subprocess.Popen(_run_train_cli(model_dir, *params),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  deadline = time.time() + 240
  try:
    while time.time() < deadline:
      if glob.glob(str(model_dir / 'ckpt-*.index')):
        break
      if proc.poll() is not None:
        pytest.fail('training exited early:\n' + proc.stdout.read())
      time.sleep(0.2)
    else:
      pytest.fail('no checkpoint appeared within 240 s')
    time.sleep(1.0)  # Let it run past the checkpoint before the kill.
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  saved = tf.train.latest_checkpoint(str(model_dir))
  saved_step = int(saved.rsplit('-', 1)[1])
  assert saved_step >= 5
  restart = subprocess.run(
      _run_train_cli(model_dir, *params[1:], 'train.num_steps = %d' %
                     (saved_step + 5)),
      capture_output=True, text=True, timeout=300)
  out = restart.stdout + restart.stderr
  assert restart.returncode == 0, out
  assert f'at step {saved_step}.' in out  # "Restored ... at step N."
  assert 'ActNorm data-dependent init' not in out
  assert f'train: done at step {saved_step + 5}' in out
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
  assert int(reader.get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE')) == (
      saved_step + 5)
  # Adam's moments came back too: a fresh optimizer would have restarted them.
  assert any(k.startswith('optimizer/_variables/')
             for k in reader.get_variable_to_shape_map())


@pytest.mark.slow
def test_mirrored_first_step_loss_matches_default(tmp_path):
  # Same global batch and init; replicas fold their id into the
  # dequantisation seed, so losses agree up to that noise (measured ~1e-4).
  default = tiny_runs.train_tiny(tmp_path / 'default', num_steps=1,
                                 batch_size=32)
  mirrored = tiny_runs.train_tiny(tmp_path / 'mirrored', num_steps=1,
                                  batch_size=32, strategy='mirrored',
                                  num_cpu_devices=2)
  assert len(tf.config.list_logical_devices('CPU')) >= 2
  np.testing.assert_allclose(mirrored['losses'][0], default['losses'][0],
                             atol=1e-3)


@pytest.mark.slow
def test_mirrored_pixelcnn_matches_default_over_two_steps(tmp_path):
  # PixelCNN has no dequantisation noise and (tiny_pixelcnn's default) no
  # dropout, so the two strategies compute the same function: only float
  # summation order differs.
  default = tiny_runs.train_tiny(tmp_path / 'default', tiny_runs.tiny_pixelcnn,
                                 num_steps=2, batch_size=16)
  mirrored = tiny_runs.train_tiny(
      tmp_path / 'mirrored', tiny_runs.tiny_pixelcnn, num_steps=2,
      batch_size=16, strategy='mirrored', num_cpu_devices=2)
  assert len(mirrored['losses']) == 2
  np.testing.assert_allclose(mirrored['losses'], default['losses'], rtol=1e-5)


def _reserve_ports(n):
  """`n` distinct free ports, each held by a bound (not listening) socket.

  Picking a free port and closing its socket before the workers start is a
  race: in the seconds a worker takes to import TensorFlow, the kernel may
  give the port to someone else (another test process, any outgoing
  connection), the worker's gRPC server then fails to bind ("Could not start
  gRPC server") and its peer waits for it until the timeout. So the sockets
  stay bound until the workers have exited: the kernel hands a bound port to
  no other bind(0) or connect(). The workers can still bind it because both
  sides set SO_REUSEADDR (and SO_REUSEPORT; gRPC sets them on Linux, checked
  with the pinned TensorFlow: its server starts on a port held this way, and
  fails on one held by a listening socket). Ours never listens, so it never
  takes a connection meant for a worker.

  Returns:
    The list of sockets; the caller closes them.
  """
  sockets = []
  for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, 'SO_REUSEPORT'):
      s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(('127.0.0.1', 0))
    sockets.append(s)
  assert len({s.getsockname()[1] for s in sockets}) == n, sockets
  return sockets


@pytest.mark.slow
@pytest.mark.parametrize('config', ['tiny_glow', 'tiny_pixelcnn'])
def test_multi_worker_two_local_processes_agree(tmp_path, config):
  reserved = _reserve_ports(2)
  try:
    _run_two_workers(tmp_path, config,
                     [s.getsockname()[1] for s in reserved])
  finally:
    for s in reserved:
      s.close()


def _run_two_workers(tmp_path, config, ports):
  """Trains `config` with two local workers on `ports`; checks they agree."""
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  model_dir = tmp_path / 'mw'
  params = ['train.strategy = "multi_worker"', 'train.num_steps = 4',
            'train.log_every = 0', 'train.summary_every = 0',
            'train.batch_size = 16', 'train.checkpoint_every = 0',
            'train.eval_every = 0', 'train.sample_every = 0',
            'train.num_eval_images = 32', 'train.init_batch_size = 64']
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}))
    procs.append(subprocess.Popen(_run_train_cli(model_dir, *params,
                                                 config=config),
                                  env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  outs = []
  for p in procs:
    try:
      outs.append(p.communicate(timeout=300)[0])
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail('multi-worker training timed out')
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out
  chief = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
  worker = tf.train.load_checkpoint(tf.train.latest_checkpoint(
      str(model_dir / 'workers' / 'worker_1')))
  names = [k for k in chief.get_variable_to_shape_map()
           if k.startswith('model/') and 'OPTIMIZER' not in k]
  assert len(names) > 10
  for k in names:
    np.testing.assert_array_equal(chief.get_tensor(k), worker.get_tensor(k),
                                  err_msg=k)


def test_non_finite_batch_is_skipped_and_logged(tmp_path, capsys):
  def poison(batch_index, images):
    return images * np.nan if batch_index == 3 else images
  result = tiny_runs.train_tiny(tmp_path, num_steps=6, batch_hook=poison,
                                verbose=True)
  assert result['skipped_steps'] == [3]
  assert result['step'] == 6 and len(result['losses']) == 6
  assert 'step 3: non-finite loss' in capsys.readouterr().out


def test_persistent_non_finite_stops_with_clear_error_and_keeps_checkpoint(
    tmp_path):
  tiny_runs.train_tiny(tmp_path, num_steps=5, checkpoint_every=5)
  with pytest.raises(trainer.NonFiniteTrainingError, match='consecutive'):
    tiny_runs.train_tiny(
        tmp_path, num_steps=10, max_consecutive_bad_steps=3,
        batch_hook=lambda batch_index, images: images * np.inf)
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-5')


def test_tensorboard_events_hold_the_scalars(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  tiny_runs.train_tiny(tmp_path, num_steps=4, summary_every=2, eval_every=4,
                       sample_every=4, num_samples=4, ema_decay=0.9,
                       operative_config='Glow.num_levels = 2')
  acc = event_accumulator.EventAccumulator(
      str(tmp_path / 'train'), size_guidance={'tensors': 0, 'images': 0})
  acc.Reload()
  tags = acc.Tags()
  scalars = set(tags['tensors'])  # TF2 summaries are stored as tensors.
  for tag in ('train/loss', 'train/bits_per_dim', 'train/grad_norm',
              'train/learning_rate', 'train/images_per_second',
              'eval/fashion_mnist/bits_per_dim', 'eval/mnist/bits_per_dim',
              'eval/ood_auroc', 'eval/fashion_mnist/bits_per_dim_per_image',
              'samples/temperature_0.7', 'samples/temperature_1.0',
              'operative_config'):
    assert tag in scalars, (tag, sorted(scalars))
  loss_events = acc.Tensors('train/loss')
  assert [e.step for e in loss_events] == [2, 4]
  assert np.isfinite(tf.make_ndarray(loss_events[-1].tensor_proto))


@pytest.mark.slow
def test_bad_gin_binding_is_a_one_line_error(tmp_path):
  result = subprocess.run(
      _run_train_cli(tmp_path, 'train.num_stpes = 3'), capture_output=True,
      text=True, timeout=120)
  assert result.returncode == 2
  assert "train: error: bad gin configuration: Configurable 'train' doesn't " \
         "have a parameter named 'num_stpes'" in result.stderr
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_time_budget_stops_early_and_leaves_a_usable_checkpoint(tmp_path):
  # A budget already spent by model building stops before the first step,
  # which must still leave a checkpoint and an evaluation behind.
  result = tiny_runs.train_tiny(tmp_path, num_steps=1000,
                                max_train_seconds=1e-3)
  assert result['stopped_early'] and result['step'] == 0
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-0')
  assert np.isfinite(result['eval']['fashion_mnist'])
  assert result['cpu_seconds'] > 0 and result['wall_seconds'] > 0
  resumed = tiny_runs.train_tiny(tmp_path, num_steps=3, max_train_seconds=600)
  assert not resumed['stopped_early'] and resumed['step'] == 3
  with pytest.raises(ValueError, match='max_train_seconds'):
    tiny_runs.train_tiny(tmp_path, max_train_seconds=0)
  with pytest.raises(ValueError, match="max_train_seconds.*multi_worker"):
    tiny_runs.train_tiny(tmp_path, max_train_seconds=10,
                         strategy='multi_worker')


def test_bad_trainer_arguments():
  with pytest.raises(ValueError, match='strategy'):
    trainer.train('/tmp/unused', tiny_runs.tiny_glow, strategy='gpu_cluster',
                  verbose=False)
  with pytest.raises(ValueError, match='num_steps'):
    trainer.train('/tmp/unused', tiny_runs.tiny_glow, num_steps=0,
                  verbose=False)


@pytest.mark.slow
def test_tiny_pixelcnn_trains_and_loads_through_the_cli(tmp_path):
  from tfp_flows import data  # pylint: disable=g-import-not-at-top
  from tfp_flows import models  # pylint: disable=g-import-not-at-top
  config = os.path.join(REPO, 'gin_configs', 'tiny_pixelcnn.gin')
  cmd = [sys.executable, os.path.join(REPO, 'bin', 'train'),
         f'--gin_file={config}', f'--model_dir={tmp_path}',
         '--gin_param=train.num_steps = 30', '--gin_param=train.eval_every = 0',
         '--gin_param=train.log_every = 1']
  result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stdout + result.stderr
  losses = [float(line.split('loss ')[1].split()[0])
            for line in result.stdout.splitlines() if ' loss ' in line]
  assert len(losses) == 30
  assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.2, losses
  model = models.load(str(tmp_path))
  assert type(model).__name__ == 'PixelCNN'
  images, _ = data.load('fashion_mnist', 'test')
  bpd = model.bits_per_dim(images[:8]).numpy()
  assert np.all(np.isfinite(bpd)) and bpd.mean() < 8.


def test_ema_ramp_forgets_the_initial_weights():
  v = tf.Variable(0.)
  ema = ema_lib.ExponentialMovingAverage([v], decay=0.999)
  v.assign(1.)
  expected_init_share = 1.
  for t in range(50):
    expected_init_share *= min(0.999, (1. + t) / (10. + t))
    ema.update()
  assert int(ema.num_updates) == 50
  np.testing.assert_allclose(float(ema.shadows[0]), 1. - expected_init_share,
                             rtol=1e-5)
  # A constant 0.999 would still hold 95% of the initial weights here.
  assert float(ema.shadows[0]) > 0.99
