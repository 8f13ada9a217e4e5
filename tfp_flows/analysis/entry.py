"""`analyze_sits`: the study's entry point (model directories in, report out).

`bin/analyze_sits` calls it with gin bindings applied (it is registered in
`tfp_flows.analysis.configurables`); as a library function it takes plain arguments.
"""

import os

from tfp_flows import classifiers as classifiers_lib
from tfp_flows import models
from tfp_flows import sits as sits_lib
from tfp_flows.analysis import sit_study

__all__ = ['analyze_sits', 'load_study_models']


def load_study_models(model_dirs):
  """Loads trained models with unique table names (directory basenames).

  Args:
    model_dirs: list of directories written by `bin/train`.

  Returns:
    list of `sit_study.StudyModel`.

  Raises:
    FileNotFoundError / ValueError: from `tfp_flows.models.load`, naming the
      directory (missing, no checkpoint, corrupt checkpoint).
  """
  if isinstance(model_dirs, str):
    model_dirs = [model_dirs]
  if not model_dirs:
    raise ValueError('Give at least one model directory (--model_dir).')
  loaded, names = [], set()
  for model_dir in model_dirs:
    base = os.path.basename(os.path.normpath(model_dir)) or 'model'
    name, k = base, 2
    while name in names:
      name, k = f'{base}_{k}', k + 1
    names.add(name)
    loaded.append(sit_study.StudyModel(name, models.load(model_dir)))
  return loaded


def analyze_sits(model_dirs, output_dir, num_images=None, sits=None,
                 datasets=None, classifier_dirs=(), batch_size=256, seed=0,
                 num_bootstrap=2000, write_figures=True,
                 write_tensorboard=True, verbose=True):
  """Measures likelihood under SITs for trained models; writes the report.

  Args:
    model_dirs: directories written by `bin/train`.
    output_dir: where `per_image.csv`, `summary.json`, `report.md`,
      `figures/` and `tensorboard/` go (and the resumable `cache/`).
    num_images: images per data set (seeded class-stratified sample of the
      test split); `None` for all 10,000.
    sits: list of SITs (`tfp_flows.sits`), or the name of a preset list:
      `'paper'` (`paper_presets()`, the reference paper's settings) or
      `'default'` (`default_sits()`: the paper's plus our variants); `None`
      is `'default'`. From a preset, SITs a model cannot take (ZeroLatents
      on a PixelCNN, k = 2 on a 2-level Glow) are skipped for it; an
      explicit SIT that no given model can take is an error.
    datasets: OoD data set names for every model (`None`: its real OoD set
      and the synthetic sets); the model's own test split always comes first.
    classifier_dirs: directories written by `bin/train_classifier`; each
      classifier scores the data sets labelled with its classes.
    batch_size, seed, num_bootstrap, write_figures, write_tensorboard,
    verbose: as for `sit_study.run_study`.

  Returns:
    The summary dict (also in `output_dir/summary.json`).
  """
  if isinstance(sits, str) or sits is None:
    sits = sits_lib.preset('default' if sits is None else sits)
    study_models = load_study_models(model_dirs)
  else:
    sits = list(sits)
    study_models = load_study_models(model_dirs)
    for sit in sits:
      if not isinstance(sit, sits_lib.SIT):
        raise TypeError(f'`sits` must hold SIT objects (e.g. '
                        f'@Translate()); got {sit!r}.')
      if not any(sit.applies_to(m.model) for m in study_models):
        kinds = ', '.join(
            f'{m.name} is a {m.kind}' + (
                f' with L = {m.model.num_levels} levels'
                if hasattr(m.model, 'num_levels') else '')
            for m in study_models)
        raise ValueError(f'SIT {sit.name!r} needs a multi-scale Glow with '
                         'more levels than the factors it zeroes (k < L), '
                         f'and no model given is one ({kinds}).')
  classifiers = []
  if classifier_dirs:
    classifiers = [classifiers_lib.load_classifier(d) for d in classifier_dirs]
  return sit_study.run_study(
      study_models, output_dir, sits=sits, datasets=datasets,
      num_images=num_images, classifiers=classifiers, batch_size=batch_size,
      seed=seed, num_bootstrap=num_bootstrap, write_figures=write_figures,
      write_tensorboard=write_tensorboard, verbose=verbose)
