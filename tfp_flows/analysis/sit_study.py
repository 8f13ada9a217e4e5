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


def run_study(models, output_dir, sits=None, datasets=None, num_images=None,
              classifiers=(), batch_size=256, seed=0, num_bootstrap=2000,
              write_figures=True, write_tensorboard=True, verbose=True):
  """Runs the SIT study and writes its outputs (see the module docstring).

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
  classifier_by_space = {}
  for c in classifiers:
    classifier_by_space[c.dataset] = c
  os.makedirs(output_dir, exist_ok=True)
  cache = _Cache(os.path.join(output_dir, 'cache'))
  started = time.perf_counter()

  # Plan: which (model, data set) pairs and SITs, and the images of each set.
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

  skipped = sorted({s.name for m in models for s in sits
                    if s not in sits_lib.sits_for_model(sits, m.model)})
  total = 0
  for m, name, model_sits in plan:
    n = len(images_of[name][0])
    scores = len(scoring.continuous_scores_for(m.model))
    continuous = [s for s in model_sits if s.kind == 'continuous']
    total += n * (1 + len(model_sits) - len(continuous) + scores * (
        len(continuous) + len({_continuous_offset(s) for s in continuous})))
  prog = progress_lib.Progress(total, prefix='[analyze_sits] ',
                               enabled=verbose)
  timings = dict(model_seconds=0., transform_seconds=0.,
                 classifier_seconds=0.)

  def scored(parts, fingerprint, compute, units):
    hit = cache.get(parts, fingerprint)
    if hit is not None:
      prog.advance(units)
      return hit
    result = compute()
    cache.put(parts, fingerprint, result)
    return result

  def tracker():
    """A fresh `(done, total)` callback that feeds `prog` the increments."""
    state = {'done': 0}

    def callback(done, total_):
      del total_
      prog.advance(done - state['done'])
      state['done'] = done
    return callback

  blocks = []
  clean = {}
  for m, name, model_sits in plan:
    images, labels, idx = images_of[name]
    role = 'in' if name == m.training_dataset else 'ood'
    space = _label_space(name, labels)
    classifier = classifier_by_space.get(space) if space else None
    base_fp = dict(checkpoint=_file_stamp(
        (m.checkpoint_path or '') + '.index'), checkpoint_path=m.checkpoint_path,
                   indices=hashlib.sha1(idx.tobytes()).hexdigest(), seed=seed,
                   batch_size=batch_size)
    clf_fp = dict(classifier=_classifier_stamp(classifier),
                  indices=base_fp['indices'])
    prog.label = f'{m.name} / {name} / clean'

    def clean_discrete():
      tick = time.perf_counter()
      bpd = evaluation.evaluate_bits_per_dim(m.model, images, batch_size,
                                           seed=seed, progress=tracker())
      timings['model_seconds'] += time.perf_counter() - tick
      return dict(bpd=bpd)
    before_discrete = scored((m.name, name, 'clean_discrete'),
                             _fingerprint(**base_fp), clean_discrete,
                             len(images))['bpd']
    clean[(m.name, name)] = dict(bpd=before_discrete, labels=labels,
                                 role=role)

    def clean_classes():
      tick = time.perf_counter()
      pred, conf = _classify(classifier, images, batch_size)
      timings['classifier_seconds'] += time.perf_counter() - tick
      return dict(pred=pred, conf=conf)
    clf_before = scored(('_classifier', name, 'clean'), _fingerprint(**clf_fp),
                        clean_classes, 0)

    # Clean continuous references: one per (bin offset, score) the SITs
    # use; the paper's noise starts at the bin edge, ZeroLatents and our
    # noise variants at the bin centre.
    before_continuous = {}
    # Latents of the clean bin centres, kept from the clean continuous
    # scoring for ZeroLatents (not cached on disk: after a resumed run
    # ZeroLatents encodes the images itself).
    centre_latents = {}
    share_latents = _shares_centre_latents(m.model, model_sits)
    continuous_scores = scoring.continuous_scores_for(m.model)
    for offset in sorted({_continuous_offset(s) for s in model_sits
                          if s.kind == 'continuous'}):
      for score_name in continuous_scores:
        prog.label = (f'{m.name} / {name} / clean '
                      f'({scoring.evaluation_name(score_name)})')

        def clean_continuous(offset=offset, score_name=score_name):
          tick = time.perf_counter()
          # Only latents of exactly the bin centres serve ZeroLatents.
          keep = (share_latents and offset == discrete.BIN_CENTRE and
                  score_name == 'density')
          result = scoring.continuous_bits_per_dim(
              m.model, sits_lib.to_continuous(images, offset), batch_size,
              progress=tracker(), return_latents=keep, score=score_name)
          timings['model_seconds'] += time.perf_counter() - tick
          if keep:
            centre_latents['latents'] = result[2]
          return dict(bpd=result[0], clipped=result[1])
        key = ('clean_continuous' + _score_suffix(score_name) + (
            '' if offset == sits_lib.CONTINUOUS_OFFSET else
            f'_offset{offset:g}'))
        before_continuous[(offset, score_name)] = scored(
            (m.name, name, key), _fingerprint(**base_fp), clean_continuous,
            len(images))['bpd']

    for sit in model_sits:
      prog.label = f'{m.name} / {name} / {sit.name}'
      fp = _fingerprint(sit=sit.config(), **base_fp)
      transformed = {}

      def transform(sit=sit, transformed=transformed):
        """The SIT's output and validity, computed once per SIT."""
        if 'out' not in transformed:
          tick = time.perf_counter()
          extra = ({'centre_latents': centre_latents['latents']}
                   if isinstance(sit, sits_lib.ZeroLatents) and
                   'latents' in centre_latents else {})
          transformed['out'], transformed['valid'] = sit.transform(
              images, seed=seed, indices=idx, model=m.model,
              batch_size=batch_size, **extra)
          timings['transform_seconds'] += time.perf_counter() - tick
        return transformed['out'], transformed['valid']

      def sit_classes(sit=sit, transform=transform):
        out, valid = transform()
        tick = time.perf_counter()
        pred, conf = _classify(classifier, _to_grey(out, sit),
                               batch_size)
        change = sits_lib.pixel_change(images, out,
                                       offset=_continuous_offset(sit))
        timings['classifier_seconds'] += time.perf_counter() - tick
        # Images the SIT failed on (e.g. a decoder overflow) carry no result.
        pred[~valid], conf[~valid] = -1, np.nan
        change['mean_abs'][~valid] = np.nan
        change['psnr'][~valid] = np.nan
        return dict(pred=pred, conf=conf, mean_abs=change['mean_abs'],
                    psnr=change['psnr'])
      # Model-independent SITs share classifier results across models.
      clf_parts = ((m.name, name, sit.name + '.classes') if sit.needs_flow
                   else ('_classifier', name, sit.name))
      clf_key = dict(clf_fp, sit=sit.config())
      if sit.needs_flow:
        clf_key.update(base_fp)
      clf_after = scored(clf_parts, _fingerprint(**clf_key), sit_classes, 0)

      if sit.kind == 'discrete':
        evaluations = [('discrete', None)]
      else:
        evaluations = [(scoring.evaluation_name(c), c)
                       for c in continuous_scores]
      for evaluation, score_name in evaluations:

        def score(sit=sit, transform=transform, score_name=score_name):
          out, valid = transform()
          tick = time.perf_counter()
          if score_name is None:
            bpd = evaluation.evaluate_bits_per_dim(
                m.model, out, batch_size, seed=seed, progress=tracker())
            clipped = np.zeros(len(out))
          else:
            bpd, clipped = scoring.continuous_bits_per_dim(
                m.model, out, batch_size, progress=tracker(),
                score=score_name)
          timings['model_seconds'] += time.perf_counter() - tick
          bpd[~valid] = np.nan
          return dict(bpd=bpd, clipped=clipped)
        after = scored(
            (m.name, name, sit.name + _score_suffix(score_name)), fp, score,
            len(images))
        n = len(images)
        before = (before_discrete if score_name is None else
                  before_continuous[(_continuous_offset(sit), score_name)])
        blocks.append(dict(
            model=np.full(n, m.name, object),
            dataset=np.full(n, name, object),
            role=np.full(n, role, object), split=np.full(n, SPLIT, object),
            index=idx, label=labels, sit=np.full(n, sit.name, object),
            evaluation=np.full(n, evaluation, object), bpd_before=before,
            bpd_after=after['bpd'],
            classifier_pred_before=clf_before['pred'],
            classifier_pred_after=clf_after['pred'],
            confidence_before=clf_before['conf'],
            confidence_after=clf_after['conf'],
            pixel_change=clf_after['mean_abs'], psnr=clf_after['psnr'],
            clipped_fraction=after['clipped']))

  table = per_image.concatenate(blocks)
  per_image.write_csv(os.path.join(output_dir, 'per_image.csv'), table)
  stats_start = time.perf_counter()
  summary = study_summary.summarize_table(table, num_bootstrap=num_bootstrap,
                                          seed=seed)
  summary['clean'] = _clean_summary(clean, num_bootstrap, seed, table)
  summary['config'] = dict(
      num_images=num_images, seed=seed, batch_size=batch_size, split=SPLIT,
      num_bootstrap=num_bootstrap,
      sits=[dict(name=s.name, kind=s.kind, **s.config()) for s in sits],
      skipped_sits_for_some_models=skipped,
      models={m.name: dict(kind=m.kind, training_dataset=m.training_dataset,
                           checkpoint=m.checkpoint_path,
                           num_subpixels=m.model.num_subpixels,
                           num_model_subpixels=m.model.num_model_subpixels)
              for m in models},
      classifiers={c.dataset: getattr(c, 'model_dir', None)
                   for c in classifiers})
  timings['statistics_seconds'] = time.perf_counter() - stats_start
  timings['images_scored'] = int(prog.done)
  if write_figures:
    tick = time.perf_counter()
    summary['figures'] = figures.write_figures(
        os.path.join(output_dir, 'figures'), summary, table, clean, images_of,
        models, sits, classifier_by_space, seed, batch_size)
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
