"""bench/likelihood_ratio_pixels.py: the split of a score by black pixels."""

import json
import os
import sys

import numpy as np
import pytest

import tiny_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'bench'))
import likelihood_ratio_pixels as pixels  # noqa: E402


def test_split_by_black_on_a_hand_made_image():
  images = np.array([[[0, 5], [0, 0]], [[1, 1], [1, 0]]],
                    np.uint8)[..., None]
  maps = np.array([[[1., 2.], [3., 4.]], [[1., 2.], [3., 4.]]])
  split = pixels.split_by_black(maps, images)
  np.testing.assert_allclose(split['black'], [8., 4.])
  np.testing.assert_allclose(split['object'], [2., 6.])
  np.testing.assert_allclose(split['all'], [10., 10.])
  # With channels, a pixel is black only when all of them are 0.
  colour = np.zeros((1, 1, 2, 3), np.uint8)
  colour[0, 0, 1, 2] = 9
  split = pixels.split_by_black(np.array([[[1., 10.]]]), colour)
  assert split['black'] == [1.] and split['object'] == [10.]


@pytest.mark.slow
def test_report_of_two_tiny_pixelcnns(tmp_path):
  for name, rate in (('model', 0.), ('model_background', 0.2)):
    tiny_runs.train_tiny(tmp_path / name, model_fn=tiny_runs.tiny_pixelcnn,
                         num_steps=2, checkpoint_every=2, mutation_rate=rate)
  out = tmp_path / 'out'
  pixels.main([f'--model_dir={tmp_path / "model"}', '--num_images=30',
               f'--output_dir={out}'])
  summary = json.loads(
      (out / 'likelihood_ratio_pixels_fashion_mnist.json').read_text())
  assert summary['ood_dataset'] == 'mnist'
  assert summary['background_dir'].endswith('model_background')
  table = summary['table']
  for q in pixels.QUANTITIES:
    parts = table[q]
    for role in ('mean_in', 'mean_out'):
      # The parts add up to the whole score.
      assert parts['black'][role] + parts['object'][role] == pytest.approx(
          parts['all'][role])
    for part in pixels.PARTS:
      a = parts[part]['auroc']
      assert 0. <= a['low'] <= a['value'] <= a['high'] <= 1.
  # The ratio is the model's bits/dim minus the background's.
  ratio = table['likelihood_ratio']['all']
  assert ratio['mean_in'] == pytest.approx(
      table['likelihood']['all']['mean_in'] -
      table['background']['all']['mean_in'], abs=1e-6)
  assert table['black_fraction']['out'] > table['black_fraction']['in']
  assert (out / 'likelihood_ratio_pixels_fashion_mnist.png').stat().st_size
  assert 'AUROC' in (out / 'likelihood_ratio_pixels_fashion_mnist.md'
                     ).read_text()

  # Another background under its own name: the model itself, whose ratio is
  # 0 in every part of every image; the default report is left alone.
  before = (out / 'likelihood_ratio_pixels_fashion_mnist.json').read_text()
  pixels.main([f'--model_dir={tmp_path / "model"}', '--num_images=30',
               f'--background_dir={tmp_path / "model"}',
               '--output_name=itself', f'--output_dir={out}'])
  itself = json.loads((out / 'itself.json').read_text())['table']
  for part in pixels.PARTS:
    assert itself['likelihood_ratio'][part]['mean_in'] == 0.
    assert itself['likelihood_ratio'][part]['auroc']['value'] == (
        pytest.approx(0.5))
  assert (out / 'itself.png').stat().st_size
  assert (out / 'likelihood_ratio_pixels_fashion_mnist.json'
          ).read_text() == before


def test_missing_background_is_one_line(tmp_path, capsys):
  (tmp_path / 'model').mkdir()
  with pytest.raises(SystemExit) as exit_info:
    pixels.main([f'--model_dir={tmp_path / "model"}',
                 f'--output_dir={tmp_path / "out"}'])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()[-1]
  assert 'model_background' in err and 'does not exist' in err
  assert not (tmp_path / 'out').exists()
