"""The checkpoints shipped in checkpoints/: they load and score as their model cards say."""

import os
import shutil

import numpy as np
import pytest

from tfp_flows import classifiers, models
from tfp_flows.models import evaluation
from tfp_flows.models import loading
from tfp_flows.experiments import shipped_models
from tfp_flows.experiments import shipping
from tfp_flows.ood import likelihood_ratio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.join(REPO, shipped_models.CHECKPOINTS_DIR)
# 40 MB held the paper's models and the PixelCNNs' backgrounds; the two
# affine Glows' backgrounds (6.3 MB each) raised it.
MAX_TOTAL_BYTES = 56 * 2**20
TOLERANCE = 0.02  # bits/dim

DENSITY = [m.name for m in shipped_models.DENSITY_MODELS
           + shipped_models.BACKGROUND_MODELS
           if os.path.isdir(os.path.join(ROOT, m.name))]
BACKGROUNDS = [m.name for m in shipped_models.BACKGROUND_MODELS
               if os.path.isdir(os.path.join(ROOT, m.name))]
CLASSIFIERS = [(n, d) for n, d in shipped_models.CLASSIFIERS
               if os.path.isdir(os.path.join(ROOT, n))]


def test_every_shipped_model_is_there_and_nothing_unknown():
  assert DENSITY, 'checkpoints/ holds no shipped density model'
  for name in shipped_models.SHIPPED | shipped_models.SHIPPED_BACKGROUNDS:
    assert os.path.isdir(os.path.join(ROOT, name)), f'{name} is missing'
  known = {m.name for m in shipped_models.DENSITY_MODELS
           + shipped_models.BACKGROUND_MODELS} | {
               n for n, _ in shipped_models.CLASSIFIERS}
  present = {n for n in os.listdir(ROOT)
             if os.path.isdir(os.path.join(ROOT, n))}
  assert present <= known, present - known


def test_all_checkpoints_together_stay_under_56_mb():
  total = sum(os.path.getsize(os.path.join(d, f))
              for d, _, files in os.walk(ROOT) for f in files)
  assert total < MAX_TOTAL_BYTES, f'{total / 2**20:.1f} MB'


@pytest.mark.slow
@pytest.mark.parametrize('name', DENSITY)
def test_density_checkpoint_matches_its_card(name):
  path = os.path.join(ROOT, name)
  card = shipping.read_card(path)
  spec = shipped_models.registered(name)
  model = models.load(path)
  assert model.training_dataset == spec.dataset == card['dataset']
  # Final weights only: no optimizer state or EMA shadows to mislead.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  keys = tf.train.load_checkpoint(model.checkpoint_path
                                  ).get_variable_to_shape_map()
  assert not [k for k in keys if 'OPTIMIZER_SLOT' in k
              or k.startswith(('ema/', 'optimizer/'))]
  for key, dataset in (('own_sample', card['dataset']),
                       ('ood_sample', card['ood_dataset'])):
    bpd = evaluation.evaluate_bits_per_dim(model, shipping.card_sample(dataset))
    assert np.isfinite(bpd).all()
    assert abs(bpd.mean() - card['results'][key]['bits_per_dim']) <= (
        TOLERANCE), (key, bpd.mean(), card['results'][key])
  for filename in ('MODEL_CARD.md', 'training_curve.csv', 'samples.png',
                   'operative_config.gin', 'model.json'):
    assert os.path.getsize(os.path.join(path, filename)) > 0, filename


@pytest.mark.parametrize('name', DENSITY)
def test_model_json_agrees_with_the_operative_config(name, tmp_path):
  # `models.load` reads model.json; the run's config must say the same.
  path = os.path.join(ROOT, name)
  from_json = loading.model_spec(path)
  shutil.copy(os.path.join(path, 'operative_config.gin'), tmp_path)
  from_config = loading.model_spec(str(tmp_path))
  assert from_json.class_name == from_config.class_name
  assert from_json.training_dataset == from_config.training_dataset
  for key, value in from_json.config.items():
    expected = from_config.config[key]
    assert value == (list(expected) if isinstance(expected, tuple)
                     else expected), key


def test_model_of_background():
  assert shipped_models.model_of_background(
      'pixelcnn_mnist_background') == 'pixelcnn_mnist'
  assert shipped_models.model_of_background(
      'pixelcnn_fashion_mnist_background_1000_steps') == (
          'pixelcnn_fashion_mnist')
  with pytest.raises(ValueError, match='pixelcnn_mnist'):
    shipped_models.model_of_background('pixelcnn_mnist')


@pytest.mark.parametrize('name', BACKGROUNDS)
def test_background_is_a_mutation_trained_background_of_its_model(name):
  background = models.load(os.path.join(ROOT, name))
  assert background.training_options['mutation_rate'] > 0.
  model_name = shipped_models.model_of_background(name)
  if os.path.isdir(os.path.join(ROOT, model_name)):
    likelihood_ratio.check_background(
        models.load(os.path.join(ROOT, model_name)), background)


@pytest.mark.parametrize('name,dataset', CLASSIFIERS)
def test_classifier_matches_its_card(name, dataset):
  path = os.path.join(ROOT, name)
  card = shipping.read_card(path)
  classifier = classifiers.load_classifier(path)
  assert classifier.dataset == dataset == card['dataset']
  # pylint: disable=protected-access
  images, labels = shipping._card_sample_and_labels(dataset)
  accuracy = 100. * np.mean(classifier.predict(images) == labels)
  assert accuracy == pytest.approx(
      card['results']['sample']['accuracy_percent'], abs=0.5)
  assert os.path.getsize(os.path.join(path, 'MODEL_CARD.md')) > 0
