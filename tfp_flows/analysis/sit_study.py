"""The SIT study: per-image likelihood of test images before and after SITs.

`run_study` loads trained models (`tfp_flows.models.load`) and, for each
model x data set x SIT, scores every image before and after the
transformation, classifies both with small CNN classifiers when given, and
measures how much the pixels moved. Results go to `output_dir`:

  per_image.csv   one row per (model, data set, image, SIT); see `per_image`
  summary.json    statistics recomputable from per_image.csv (`study_summary`)
  report.md       the tables a reader wants (`report`)
  figures/*.png   histograms, change vs magnitude, per-class bars, image grids
  tensorboard/    the same scalars, histograms and grids for TensorBoard
  cache/          per (model, data set, SIT) results, so a rerun or an
                  interrupted run only computes what is missing

Pairing: "before" and "after" of one image use the same dequantisation noise
(same seed and batch position), so a delta measures the SIT, not the noise.
"""

import contextlib
import hashlib
import io
import json
import os
import time
import warnings
import zipfile

import numpy as np

from tfp_flows import data
from tfp_flows import sits as sits_lib
from tfp_flows.analysis import figures
from tfp_flows.analysis import per_image
from tfp_flows.analysis import progress as progress_lib
from tfp_flows.analysis import report as report_lib
from tfp_flows.analysis import sampling
from tfp_flows.analysis import scoring
from tfp_flows.analysis import statistics
from tfp_flows.analysis import study_summary
from tfp_flows.analysis import tensorboard_log
from tfp_flows.models import discrete
from tfp_flows.models import evaluation
from tfp_flows.utils import atomic

__all__ = ['StudyModel', 'default_datasets', 'run_study']

SPLIT = 'test'


class StudyModel:
  """A loaded model with the name the study's tables use."""

  def __init__(self, name, model):
    self.name = name
    self.model = model
    self.training_dataset = getattr(model, 'training_dataset', None)
    self.checkpoint_path = getattr(model, 'checkpoint_path', None)
    self.kind = type(model).__name__


def default_datasets(training_dataset):
  """The model's own test split, its real OoD set, then the synthetic sets."""
  return [training_dataset, data.ood_dataset_for(training_dataset)] + [
      s for s in data.SYNTHETIC_DATASETS if s != training_dataset]


def _label_space(dataset, labels):
  """The real data set whose classes a data set's labels name (or None)."""
  if not (np.asarray(labels) >= 0).any():
    return None
  return dataset if dataset in data.REAL_DATASETS else data.catalog.SYNTHETIC_BASE[
      dataset]


def _fingerprint(**parts):
  return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()
                      ).hexdigest()


def _file_stamp(path):
  if path is None or not os.path.exists(path):
    return None
  st = os.stat(path)
  return [path, st.st_size, st.st_mtime_ns]


def _classifier_stamp(classifier):
  """Identifies a classifier's weights (retraining changes the stamp)."""
  if classifier is None:
    return None
  model_dir = getattr(classifier, 'model_dir', None)
  if model_dir is None:
    return repr(classifier)
  return [_file_stamp(os.path.join(model_dir, name))
          for name in sorted(os.listdir(model_dir))]


class _Cache:
  """`.npz` files keyed by path parts; a fingerprint guards against reuse."""

  def __init__(self, root):
    self._root = root

  def _path(self, parts):
    return os.path.join(self._root, *parts[:-1], parts[-1] + '.npz')

  def get(self, parts, fingerprint):
    """The cached arrays, or None: absent, stale or unreadable (recompute).

    An unreadable file (empty, truncated, not a zip, an older format) is
    not an error: it is reported with its path and recomputed, and `put`
    then replaces it.
    """
    path = self._path(parts)
    if not os.path.exists(path):
      return None
    try:
      with np.load(path, allow_pickle=False) as f:
        if str(f['fingerprint']) != fingerprint:
          return None
        return {k: f[k] for k in f.files if k != 'fingerprint'}
    except (OSError, ValueError, KeyError, EOFError,
            zipfile.BadZipFile) as e:
      warnings.warn(f'analysis cache file {path} is unreadable '
                    f'({type(e).__name__}: {e}); recomputing it.',
                    RuntimeWarning, stacklevel=2)
      return None

  def put(self, parts, fingerprint, arrays):
    buf = io.BytesIO()
    np.savez(buf, fingerprint=np.asarray(fingerprint), **arrays)
    atomic.atomic_write_bytes(self._path(parts), buf.getvalue())


def _classify(classifier, images_grey, batch_size):
  if classifier is None:
    n = len(images_grey)
    return np.full(n, -1, np.int64), np.full(n, np.nan)
  probs = np.asarray(classifier.predict_proba(images_grey,
                                              batch_size=max(batch_size, 512)))
  return probs.argmax(axis=1).astype(np.int64), probs.max(axis=1).astype(
      np.float64)


def _continuous_offset(sit):
  """The bin offset a continuous SIT's output uses (its last member's)."""
  while isinstance(sit, sits_lib.Compose):
    sit = sit.sits[-1]
  return getattr(sit, 'offset', sits_lib.CONTINUOUS_OFFSET)


def _shares_centre_latents(model, model_sits):
  """Whether the clean continuous scoring should keep the flow's latents.

  `ZeroLatents` encodes each image's bin centre `(x + 0.5) / 256`, which is
  exactly the clean continuous image, so an unpadded Glow's clean scoring
  can hand its latents over and save ZeroLatents a pass through the flow.
  """
  return (hasattr(model, 'log_density_and_latents') and
          getattr(model, 'pad_to', None) is None and
          any(isinstance(s, sits_lib.ZeroLatents) for s in model_sits))


def _score_suffix(score_name):
  """Cache-key suffix of a continuous score (none for the density)."""
  return '' if score_name in (None, 'density') else f'.{score_name}'


def _to_grey(images, sit):
  """SIT output -> grey levels (uint8 or float32) for the classifier."""
  if sit.kind == 'discrete':
    return images
  return sits_lib.from_continuous(
      images, offset=_continuous_offset(sit)).astype(np.float32)


def _check_sits(sits):
  names = [s.name for s in sits]
  dupes = sorted({n for n in names if names.count(n) > 1})
  if dupes:
    raise ValueError(f'SIT names must be unique; repeated: {dupes}.')
  for s in sits:
    if not isinstance(s, sits_lib.SIT):
      raise TypeError(f'Expected SIT objects; got {type(s).__name__}: {s!r}.')


def _check_inputs(models, sits, datasets):
  """Checks `run_study`'s inputs; returns the list of SITs to run.

  Args:
    models, sits, datasets: as given to `run_study`.

  Returns:
    list of `tfp_flows.sits.SIT`: `sits`, or `sits.default_sits()` for None.

  Raises:
    TypeError, ValueError: a non-SIT or repeated SIT name, no models,
      repeated model names or an unknown data set name.
  """
  sits = list(sits_lib.default_sits() if sits is None else sits)
  _check_sits(sits)
  if not models:
    raise ValueError('`models` is empty: give at least one model.')
  names = [m.name for m in models]
  if len(set(names)) != len(names):
    raise ValueError(f'Model names must be unique; got {names}.')
  if datasets is not None:
    for name in datasets:
      data.catalog.check_dataset_name(name)
  return sits


def _plan(models, sits, datasets, num_images, seed):
  """Which (model, data set) cells to score with which SITs, and the images.

  Args:
    models, sits, datasets, num_images, seed: as given to `run_study`
      (`sits` checked).

  Returns:
    `(plan, images_of)`. `plan`: list of `(StudyModel, data set name, SITs
    the model takes)` in scoring order. `images_of`: data set name ->
    `(images [n, H, W, C] uint8, labels [n] int, indices [n] int64)`, the
    sample of its test split, loaded once however many models use it.

  Raises:
    ValueError: a model does not know its training data set.
  """
  plan = []
  images_of = {}
  for m in models:
    if m.training_dataset is None:
      raise ValueError(f'Model {m.name!r} does not say which data set it was '
                       'trained on (load it with tfp_flows.models.load).')
    wanted = default_datasets(m.training_dataset) if datasets is None else (
        [m.training_dataset] + [d for d in datasets
                                if d != m.training_dataset])
    model_sits = sits_lib.sits_for_model(sits, m.model)
    for name in wanted:
      if name not in images_of:
        images, labels = data.load(name, SPLIT, seed=seed)
        idx = sampling.stratified_indices(labels, num_images, seed=seed)
        images_of[name] = (np.asarray(images[idx]), np.asarray(labels[idx]),
                           idx)
      plan.append((m, name, model_sits))
  return plan, images_of


def _num_units(plan, images_of):
  """The progress line's total: images x scoring passes over all cells."""
  total = 0
  for m, name, model_sits in plan:
    n = len(images_of[name][0])
    scores = len(scoring.continuous_scores_for(m.model))
    continuous = [s for s in model_sits if s.kind == 'continuous']
    total += n * (1 + len(model_sits) - len(continuous) + scores * (
        len(continuous) + len({_continuous_offset(s) for s in continuous})))
  return total


class _Study:
  """What the stages of one `run_study` call share.

  Attributes:
    seed, batch_size: as given to `run_study`.
    images_of: data set name -> `(images, labels, indices)` (see `_plan`).
    classifier_by_space: data set name -> the classifier of its classes.
    cache: the `_Cache` under `output_dir/cache`.
    prog: the `progress_lib.Progress` line, counting images scored.
    timings: seconds per kind of work; becomes `summary['timing']`.
    clean: `(model name, data set)` -> dict of the clean discrete `bpd`
      (float64 [n]), `labels` and `role`, for `_clean_summary` and figures.
  """

  def __init__(self, output_dir, total, seed, batch_size, images_of,
               classifier_by_space, verbose):
    self.seed = seed
    self.batch_size = batch_size
    self.images_of = images_of
    self.classifier_by_space = classifier_by_space
    self.cache = _Cache(os.path.join(output_dir, 'cache'))
    self.prog = progress_lib.Progress(total, prefix='[analyze_sits] ',
                                      enabled=verbose)
    self.timings = dict(model_seconds=0., transform_seconds=0.,
                        classifier_seconds=0.)
    self.clean = {}

  @contextlib.contextmanager
  def timed(self, key):
    """Adds the block's wall time to `timings[key]` (unless it raises)."""
    tick = time.perf_counter()
    yield
    self.timings[key] += time.perf_counter() - tick

  def scored(self, parts, fingerprint, compute, units):
    """`compute()`'s arrays: from the cache when fresh, else computed, cached.

    A cache hit advances the progress line by `units` (what `compute`
    would have reported through a `tracker`).
    """
    hit = self.cache.get(parts, fingerprint)
    if hit is not None:
      self.prog.advance(units)
      return hit
    result = compute()
    self.cache.put(parts, fingerprint, result)
    return result

  def tracker(self):
    """A fresh `(done, total)` callback that feeds `prog` the increments."""
    state = {'done': 0}

    def callback(done, total):
      del total
      self.prog.advance(done - state['done'])
      state['done'] = done
    return callback


class _Cell:
  """One (model, data set) cell of the plan and its clean results.

  Attributes:
    study_model: the `StudyModel`; `model` its density model.
    dataset: the data set name; `sits` the SITs the model takes.
    images, labels, indices: the data set's sample (see `_plan`), n images.
    role: 'in' (the model's training set) or 'ood'.
    classifier: the classifier of the data set's classes, or None.
    base_fp, clf_fp: fingerprint parts of the model's scores and of
      classifier results (change them and the cache recomputes).
    continuous_scores: the model's continuous scores (`scoring`).
    bpd_clean: float64 [n], clean discrete bits/dim (`_score_clean`).
    classes_clean: dict of `pred` int64 [n], `conf` float64 [n].
    bpd_clean_continuous: `(bin offset, score)` -> float64 [n] clean
      continuous bits/dim (`_score_clean_continuous`).
    centre_latents: `{'latents': ...}` when the clean scoring kept the
      flow's latents of the bin centres for ZeroLatents, else `{}`.
  """

  def __init__(self, study, study_model, dataset, model_sits):
    self.study_model = study_model
    self.model = study_model.model
    self.dataset = dataset
    self.sits = model_sits
    self.images, self.labels, self.indices = study.images_of[dataset]
    self.role = 'in' if dataset == study_model.training_dataset else 'ood'
    space = _label_space(dataset, self.labels)
    self.classifier = (study.classifier_by_space.get(space) if space else
                       None)
    self.base_fp = dict(
        checkpoint=_file_stamp((study_model.checkpoint_path or '') +
                               '.index'),
        checkpoint_path=study_model.checkpoint_path,
        indices=hashlib.sha1(self.indices.tobytes()).hexdigest(),
        seed=study.seed, batch_size=study.batch_size)
    self.clf_fp = dict(classifier=_classifier_stamp(self.classifier),
                       indices=self.base_fp['indices'])
    self.continuous_scores = scoring.continuous_scores_for(self.model)
    self.bpd_clean = self.classes_clean = None
    self.bpd_clean_continuous = {}
    self.centre_latents = {}

  def parts(self, key):
    """Cache path parts of this cell's result `key`."""
    return (self.study_model.name, self.dataset, key)


def _score_clean(study, cell):
  """Scores (discrete bits/dim) and classifies a cell's clean images."""
  study.prog.label = f'{cell.study_model.name} / {cell.dataset} / clean'

  def clean_discrete():
    with study.timed('model_seconds'):
      bpd = evaluation.evaluate_bits_per_dim(
          cell.model, cell.images, study.batch_size, seed=study.seed,
          progress=study.tracker())
    return dict(bpd=bpd)
  cell.bpd_clean = study.scored(
      cell.parts('clean_discrete'), _fingerprint(**cell.base_fp),
      clean_discrete, len(cell.images))['bpd']
  study.clean[(cell.study_model.name, cell.dataset)] = dict(
      bpd=cell.bpd_clean, labels=cell.labels, role=cell.role)

  def clean_classes():
    with study.timed('classifier_seconds'):
      pred, conf = _classify(cell.classifier, cell.images, study.batch_size)
    return dict(pred=pred, conf=conf)
  cell.classes_clean = study.scored(
      ('_classifier', cell.dataset, 'clean'), _fingerprint(**cell.clf_fp),
      clean_classes, 0)


def _score_clean_continuous(study, cell):
  """Clean continuous references: one per (bin offset, score) the SITs use.

  The paper's noise starts at the bin edge, ZeroLatents and our noise
  variants at the bin centre. The latents of the clean bin centres are kept
  for ZeroLatents when they can be shared (not cached on disk: after a
  resumed run ZeroLatents encodes the images itself).
  """
  share_latents = _shares_centre_latents(cell.model, cell.sits)
  offsets = sorted({_continuous_offset(s) for s in cell.sits
                    if s.kind == 'continuous'})
  for offset in offsets:
    for score_name in cell.continuous_scores:
      study.prog.label = (f'{cell.study_model.name} / {cell.dataset} / clean '
                          f'({scoring.evaluation_name(score_name)})')
      # Only latents of exactly the bin centres serve ZeroLatents.
      keep = (share_latents and offset == discrete.BIN_CENTRE and
              score_name == 'density')

      def clean_continuous(offset=offset, score_name=score_name, keep=keep):
        with study.timed('model_seconds'):
          result = scoring.continuous_bits_per_dim(
              cell.model, sits_lib.to_continuous(cell.images, offset),
              study.batch_size, progress=study.tracker(),
              return_latents=keep, score=score_name)
          if keep:
            cell.centre_latents['latents'] = result[2]
        return dict(bpd=result[0], clipped=result[1])
      key = ('clean_continuous' + _score_suffix(score_name) + (
          '' if offset == sits_lib.CONTINUOUS_OFFSET else
          f'_offset{offset:g}'))
      cell.bpd_clean_continuous[(offset, score_name)] = study.scored(
          cell.parts(key), _fingerprint(**cell.base_fp), clean_continuous,
          len(cell.images))['bpd']


def _transformer(study, cell, sit):
  """A callable returning `sit`'s `(output, valid)` for the cell's images.

  The transform runs on the first call only: classifying and each scoring
  of the output share it, and a fully cached SIT never runs it.
  """
  transformed = {}

  def transform():
    if 'out' not in transformed:
      with study.timed('transform_seconds'):
        extra = ({'centre_latents': cell.centre_latents['latents']}
                 if isinstance(sit, sits_lib.ZeroLatents) and
                 'latents' in cell.centre_latents else {})
        transformed['out'], transformed['valid'] = sit.transform(
            cell.images, seed=study.seed, indices=cell.indices,
            model=cell.model, batch_size=study.batch_size, **extra)
    return transformed['out'], transformed['valid']
  return transform


def _classify_sit(study, cell, sit, transform):
  """Classes and pixel change of the cell's images after `sit`.

  Returns:
    dict of `pred` int64 [n], `conf`, `mean_abs`, `psnr` float64 [n]; -1 or
    NaN for images the SIT failed on.
  """
  def sit_classes():
    out, valid = transform()
    with study.timed('classifier_seconds'):
      pred, conf = _classify(cell.classifier, _to_grey(out, sit),
                             study.batch_size)
      change = sits_lib.pixel_change(cell.images, out,
                                     offset=_continuous_offset(sit))
    # Images the SIT failed on (e.g. a decoder overflow) carry no result.
    pred[~valid], conf[~valid] = -1, np.nan
    change['mean_abs'][~valid] = np.nan
    change['psnr'][~valid] = np.nan
    return dict(pred=pred, conf=conf, mean_abs=change['mean_abs'],
                psnr=change['psnr'])
  # Model-independent SITs share classifier results across models.
  parts = (cell.parts(sit.name + '.classes') if sit.needs_flow
           else ('_classifier', cell.dataset, sit.name))
  key = dict(cell.clf_fp, sit=sit.config())
  if sit.needs_flow:
    key.update(cell.base_fp)
  return study.scored(parts, _fingerprint(**key), sit_classes, 0)


def _score_sit(study, cell, sit):
  """Transforms, classifies and scores the cell's images for one SIT.

  Returns:
    list of `per_image` column blocks (`_rows`), one per evaluation of the
    SIT's output: discrete bits/dim, or each of the model's continuous
    scores.
  """
  study.prog.label = f'{cell.study_model.name} / {cell.dataset} / {sit.name}'
  fingerprint = _fingerprint(sit=sit.config(), **cell.base_fp)
  transform = _transformer(study, cell, sit)
  classes_after = _classify_sit(study, cell, sit, transform)
  if sit.kind == 'discrete':
    evaluations = [('discrete', None)]
  else:
    evaluations = [(scoring.evaluation_name(c), c)
                   for c in cell.continuous_scores]
  blocks = []
  for eval_name, score_name in evaluations:

    def score(score_name=score_name):
      out, valid = transform()
      with study.timed('model_seconds'):
        if score_name is None:
          bpd = evaluation.evaluate_bits_per_dim(
              cell.model, out, study.batch_size, seed=study.seed,
              progress=study.tracker())
          clipped = np.zeros(len(out))
        else:
          bpd, clipped = scoring.continuous_bits_per_dim(
              cell.model, out, study.batch_size, progress=study.tracker(),
              score=score_name)
      bpd[~valid] = np.nan
      return dict(bpd=bpd, clipped=clipped)
    after = study.scored(cell.parts(sit.name + _score_suffix(score_name)),
                         fingerprint, score, len(cell.images))
    before = (cell.bpd_clean if score_name is None else
              cell.bpd_clean_continuous[(_continuous_offset(sit),
                                         score_name)])
    blocks.append(_rows(cell, sit, eval_name, before, after, classes_after))
  return blocks


def _rows(cell, sit, eval_name, bpd_before, after, classes_after):
  """The `per_image` columns of one (cell, SIT, evaluation): n rows."""
  n = len(cell.images)
  return dict(
      model=np.full(n, cell.study_model.name, object),
      dataset=np.full(n, cell.dataset, object),
      role=np.full(n, cell.role, object), split=np.full(n, SPLIT, object),
      index=cell.indices, label=cell.labels,
      sit=np.full(n, sit.name, object),
      evaluation=np.full(n, eval_name, object), bpd_before=bpd_before,
      bpd_after=after['bpd'],
      classifier_pred_before=cell.classes_clean['pred'],
      classifier_pred_after=classes_after['pred'],
      confidence_before=cell.classes_clean['conf'],
      confidence_after=classes_after['conf'],
      pixel_change=classes_after['mean_abs'], psnr=classes_after['psnr'],
      clipped_fraction=after['clipped'])


def _summarize(study, table, models, sits, classifiers, skipped, num_images,
               num_bootstrap):
  """`summary.json`'s statistics, clean results and configuration."""
  summary = study_summary.summarize_table(table, num_bootstrap=num_bootstrap,
                                          seed=study.seed)
  summary['clean'] = _clean_summary(study.clean, num_bootstrap, study.seed,
                                    table)
  summary['config'] = dict(
      num_images=num_images, seed=study.seed, batch_size=study.batch_size,
      split=SPLIT, num_bootstrap=num_bootstrap,
      sits=[dict(name=s.name, kind=s.kind, **s.config()) for s in sits],
      skipped_sits_for_some_models=skipped,
      models={m.name: dict(kind=m.kind, training_dataset=m.training_dataset,
                           checkpoint=m.checkpoint_path,
                           num_subpixels=m.model.num_subpixels,
                           num_model_subpixels=m.model.num_model_subpixels)
              for m in models},
      classifiers={c.dataset: getattr(c, 'model_dir', None)
                   for c in classifiers})
  return summary


def _write_outputs(study, output_dir, summary, table, models, sits, started,
                   write_figures, write_tensorboard):
  """Writes figures, TensorBoard events, `summary.json` and `report.md`.

  Adds `figures` (when written) and `timing` to `summary`, in place.
  """
  timings = study.timings
  if write_figures:
    tick = time.perf_counter()
    summary['figures'] = figures.write_figures(
        os.path.join(output_dir, 'figures'), summary, table, study.clean,
        study.images_of, models, sits, study.classifier_by_space, study.seed,
        study.batch_size)
    timings['figure_seconds'] = time.perf_counter() - tick
  if write_tensorboard:
    tick = time.perf_counter()
    tensorboard_log.write(os.path.join(output_dir, 'tensorboard'), summary,
                          table, output_dir)
    timings['tensorboard_seconds'] = time.perf_counter() - tick
  timings['wall_seconds'] = time.perf_counter() - started
  summary['timing'] = timings
  atomic.atomic_write_json(os.path.join(output_dir, 'summary.json'), summary)
  atomic.atomic_write_text(os.path.join(output_dir, 'report.md'),
                           report_lib.render(summary))


def run_study(models, output_dir, sits=None, datasets=None, num_images=None,
              classifiers=(), batch_size=256, seed=0, num_bootstrap=2000,
              write_figures=True, write_tensorboard=True, verbose=True):
  """Runs the SIT study and writes its outputs (see the module docstring).

  Stages: check the inputs (`_check_inputs`), plan the (model, data set)
  cells and load their images (`_plan`); per cell, score and classify the
  clean images (`_score_clean`, `_score_clean_continuous`), then each SIT's
  output (`_score_sit`), every result through the cache; assemble the
  per-image table and the summary (`_summarize`); write the outputs
  (`_write_outputs`).

  Args:
    models: list of `StudyModel`s (loaded models with unique names).
    output_dir: directory for the outputs; created if missing.
    sits: list of `tfp_flows.sits.SIT`; default `sits.default_sits()`.
      SITs a model cannot take (ZeroLatents on a PixelCNN) are skipped for
      that model only.
    datasets: data set names evaluated for every model, or `None` for
      `default_datasets(model.training_dataset)` (its test split, its real
      OoD set, the synthetic sets). The model's training set is always
      included, first, as the in-distribution set.
    num_images: images per data set: a seeded, class-stratified sample of
      the test split (`sampling.stratified_indices`); `None` for all.
    classifiers: loaded `tfp_flows.classifiers` classifiers; each scores the
      data sets whose labels are its classes.
    batch_size: images per model call.
    seed: seeds the sample, the SITs' noise and the dequantisation noise.
    num_bootstrap: bootstrap resamples of the 95% intervals.
    write_figures, write_tensorboard: also write PNGs / TensorBoard events.
    verbose: progress line and messages on stderr.

  Returns:
    The summary dict written to `summary.json`.
  """
  sits = _check_inputs(models, sits, datasets)
  classifier_by_space = {c.dataset: c for c in classifiers}
  os.makedirs(output_dir, exist_ok=True)
  started = time.perf_counter()
  plan, images_of = _plan(models, sits, datasets, num_images, seed)
  skipped = sorted({s.name for m in models for s in sits
                    if s not in sits_lib.sits_for_model(sits, m.model)})
  study = _Study(output_dir, _num_units(plan, images_of), seed, batch_size,
                 images_of, classifier_by_space, verbose)
  blocks = []
  for study_model, dataset, model_sits in plan:
    cell = _Cell(study, study_model, dataset, model_sits)
    _score_clean(study, cell)
    _score_clean_continuous(study, cell)
    for sit in model_sits:
      blocks.extend(_score_sit(study, cell, sit))

  table = per_image.concatenate(blocks)
  per_image.write_csv(os.path.join(output_dir, 'per_image.csv'), table)
  stats_start = time.perf_counter()
  summary = _summarize(study, table, models, sits, classifiers, skipped,
                       num_images, num_bootstrap)
  study.timings['statistics_seconds'] = time.perf_counter() - stats_start
  study.timings['images_scored'] = int(study.prog.done)
  _write_outputs(study, output_dir, summary, table, models, sits, started,
                 write_figures, write_tensorboard)
  return summary


def _clean_summary(clean, num_bootstrap, seed, table):
  """Clean (untransformed) bits/dim per model x data set, with per-class means."""
  out = []
  for (model, dataset), entry in clean.items():
    bpd, labels = entry['bpd'], entry['labels']
    per_class = {str(int(c)): dict(count=int((labels == c).sum()),
                                   bpd=float(bpd[labels == c].mean()))
                 for c in np.unique(labels)}
    rows = np.flatnonzero((table['model'] == model) &
                          (table['dataset'] == dataset))
    accuracy = None
    if rows.size:
      first_sit = table['sit'][rows[0]]
      rows = rows[table['sit'][rows] == first_sit]
      pred, lab = table['classifier_pred_before'][rows], table['label'][rows]
      if (pred >= 0).any() and (lab >= 0).any():
        accuracy = float(np.mean(pred[lab >= 0] == lab[lab >= 0]))
    low, high = statistics.bootstrap_mean_ci(bpd, num_resamples=num_bootstrap,
                                             seed=seed)
    out.append(dict(model=model, dataset=dataset, role=entry['role'],
                    count=int(bpd.size), bpd=dict(
                        mean=float(bpd.mean()), ci95=[low, high],
                        median=float(np.median(bpd))),
                    classifier_accuracy=accuracy, per_class=per_class))
  return out
