#!/usr/bin/env bash
# Every run behind the numbers in docs/TRAINING.md, docs/ANALYSIS.md and
# docs/PERFORMANCE.md, in order, unattended. Training resumes and the
# classifiers are skipped when present; the benchmarks always run afresh
# (they measure time), so restart an interrupted run from its step (below).
# Keep the machine otherwise idle: the timings are the point.
#
#   bench/run_all.sh            # everything (~6 h on 2 CPU cores)
#   bench/run_all.sh analysis   # from the analyses on (models trained)
#
# Steps:
#   train       the five research configs into runs/<config> (resumable)
#   classifiers the FashionMNIST and MNIST classifiers (skipped if present)
#   configs     trainer img/s of every research config (bench/research_configs.py)
#   throughput  ours vs tfp.bijectors.Glow and tfd.PixelCNN (bench/throughput.py),
#               then the PyTorch Glow peer side by side (bench/pytorch_glow_peer.py,
#               in .venv-torch made by bench/setup_pytorch_peer.sh)
#   analysis    a full bin/analyze_sits per research model, timed
#               (bench/analysis.py; reports in results/sits_<config>/)
#   plot        docs/performance.png
#   levers      thread pools and eval batch size (bench/archive/threads_and_batch.py),
#               bf16 against float32 matmuls (bench/archive/bf16_matmul.py);
#               last because no target depends on them
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
if [[ ! -x "$PY" ]]; then
  echo "run_all: no $PY; run bin/test or bin/reproduce once to set it up" >&2
  exit 2
fi
CONFIGS=(small_glow_fashion_mnist small_glow_mnist pixelcnn_fashion_mnist
         small_glow_additive_fashion_mnist pixelcnn_mnist)
STEPS=(train classifiers configs throughput analysis plot levers)
FIRST=${1:-train}
if [[ ! " ${STEPS[*]} " =~ " ${FIRST} " ]]; then
  echo "run_all: unknown step '$FIRST'; steps: ${STEPS[*]}" >&2
  exit 2
fi

started=0
for step in "${STEPS[@]}"; do
  [[ "$step" == "$FIRST" ]] && started=1
  (( started )) || continue
  echo "== run_all: $step ($(date -u +%H:%M:%S) UTC)"
  case "$step" in
    train)
      "$PY" bench/train_research_models.py ;;
    classifiers)
      for dataset in fashion_mnist mnist; do
        if [[ ! -f "runs/classifiers/$dataset/weights.npz" ]]; then
          bin/train_classifier --gin_file="gin_configs/classifiers/$dataset.gin" \
            --model_dir="runs/classifiers/$dataset"
        fi
      done ;;
    configs)
      "$PY" bench/research_configs.py ;;
    throughput)
      "$PY" bench/throughput.py --wait-idle 600
      bench/setup_pytorch_peer.sh
      .venv-torch/bin/python bench/pytorch_glow_peer.py ;;
    analysis)
      for config in "${CONFIGS[@]}"; do
        "$PY" bench/analysis.py --model_dir="runs/$config" \
          --classifier_dir=runs/classifiers/fashion_mnist \
          --classifier_dir=runs/classifiers/mnist \
          --keep_output="results/sits_$config"
      done ;;
    plot)
      "$PY" bench/plot_performance.py ;;
    levers)
      "$PY" bench/archive/threads_and_batch.py
      "$PY" bench/archive/bf16_matmul.py ;;
  esac
done
echo "== run_all: done ($(date -u +%H:%M:%S) UTC)"
