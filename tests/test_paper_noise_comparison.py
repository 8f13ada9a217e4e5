"""bench/paper_noise_comparison.py: its table and its verdict rule."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'bench'))
import paper_noise_comparison as comparison  # noqa: E402


def _entry(model, sit, evaluation, mean, half_width):
  return dict(model=model, dataset='fashion_mnist', role='in', sit=sit,
              evaluation=evaluation,
              bpd_before=dict(mean=3.0, median=3.0),
              delta=dict(mean=mean, ci95=[mean - half_width,
                                          mean + half_width]))


def _summary(pixelcnn_delta):
  results = []
  for sit in comparison.noise_names():
    results.append(_entry('g', sit, 'continuous', 0.5, 0.05))
    results.append(_entry('p', sit, 'continuous', pixelcnn_delta(sit), 0.05))
    results.append(_entry('p', sit, 'conditioned', 0.52, 0.05))
  clean = [dict(model=m, dataset='fashion_mnist', count=500)
           for m in ('g', 'p')]
  return dict(results=results, clean=clean)


def test_verdicts_follow_the_interval_rule():
  # Density: far above the Glow at the edge, far below at the centre;
  # conditioned: overlapping intervals everywhere.
  summary = _summary(lambda sit: 2.0 if sit.endswith('_edge') else 0.01)
  text = comparison.render(summary, 'g', 'p')
  assert '| density | edge | 6 | 0 | 0 |' in text
  assert '| density | centre | 0 | 6 | 0 |' in text
  assert '| conditioned | edge | 0 | 0 | 6 |' in text
  assert '| normal | background | edge | +0.500 [+0.450, +0.550] | ' \
         '+2.000 [+1.950, +2.050] |' in text
  assert len(comparison.noise_names()) == 12
