"""The benchmark size and data shared by `throughput.py` and the PyTorch peer.

TensorFlow-free (numpy and `tfp_flows.data` only), so that
`pytorch_glow_peer.py` can import it from its own venv and time its Glow on
exactly the configuration and the batches `throughput.py` times ours on.
"""

import numpy as np

IMAGE_SHAPE = (28, 28, 1)
NUM_SUBPIXELS = 28 * 28 * 1
N_BITS = 8
NUM_LEVELS = 2
NUM_STEPS = 16
HIDDEN = 128
TRAIN_BATCH = 64
EVAL_BATCH = 256
INIT_BATCH = 512
LEARNING_RATE = 1e-3
# Linear warm-up, as the research configs use: without it the first Adam
# steps throw the additive Glow far off (docs/PERFORMANCE.md, Observations).
WARMUP_STEPS = 20


def draw_batches(images, seed, steps):
  """The benchmark's batches of uint8 images, drawn from `images` by `seed`.

  Args:
    images: uint8 `[N, 28, 28, 1]` training images.
    seed: int, seeds `np.random.default_rng`.
    steps: batches per timed round.

  Returns:
    dict of uint8 arrays: `init` `[512, ...]` (ActNorm's data-dependent
    init), `train` (list of `steps` `[64, ...]`), `eval` (list of `steps`
    `[256, ...]`), `first_train` `[64, ...]` and `first_eval` `[256, ...]`
    (first calls; also the bits/dim before and after training).
  """
  rng = np.random.default_rng(seed)
  n = len(images)
  init = images[rng.choice(n, INIT_BATCH, replace=False)]
  train = [images[rng.integers(0, n, TRAIN_BATCH)] for _ in range(steps)]
  evals = [images[rng.integers(0, n, EVAL_BATCH)] for _ in range(steps)]
  return dict(init=init, train=train, eval=evals,
              first_train=images[rng.integers(0, n, TRAIN_BATCH)],
              first_eval=images[rng.integers(0, n, EVAL_BATCH)])
