#!/usr/bin/env bash
# Every table of issue 5 in benchmarks/RESULTS.md, in the order they were made (about 4 hours
# on 2 shared cores). Each command is also printed above its own table; a finished run is
# reused, so the script can be stopped and started again. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=runs/bench/protocol
R=benchmarks/RESULTS.md
ABLATION=(pgkd uniform no_report no_hard_negatives)

# 1. The paper's protocol (Tables 2 and 4), frozen student, SIMULATION teacher, 5 seeds.
for d in ag_news huffpost amazon_htc; do
  $PY benchmarks/protocol.py --dataset $d --seeds 0 1 2 3 4 --variants "${ABLATION[@]}" \
    --out $OUT --results $R
done
# Table 3 data sets.
for d in inshorts imdb; do
  $PY benchmarks/protocol.py --dataset $d --seeds 0 1 2 3 4 --variants pgkd uniform \
    --out $OUT --results $R
done
# Table 6: training-set sizes.
for d in ag_news huffpost amazon_htc; do
  $PY benchmarks/protocol.py --dataset $d --seeds 0 1 2 3 4 --variants pgkd uniform \
    --train-size 1000 2500 5000 --out $OUT --results $R
done
# The fine-tuned transformer student, one seed (about 20 minutes per variant).
$PY benchmarks/protocol.py --dataset ag_news --seeds 0 --variants pgkd uniform --steps 5 \
  --student transformer --student-epochs 3 --student-max-length 128 \
  --student-learning-rate 5e-5 --student-batch-size 16 --tag transformer --out $OUT --results $R
# A real (if weak) LLM teacher: the in-process SmolLM2-135M, two steps.
$PY benchmarks/protocol.py --dataset ag_news --seeds 0 --variants pgkd --steps 2 \
  --teacher local:smollm2 --teacher-option n_ctx=4096 --tag local --out $OUT --results $R

# 5. The loop-test split.
for d in ag_news huffpost; do
  $PY benchmarks/protocol.py --dataset $d --seeds 0 1 2 3 4 --variants pgkd uniform \
    --loop-test-fraction 0.2 --tag looptest --out $OUT --results $R
done
$PY benchmarks/loop_test.py $OUT/results.jsonl --results $R

# Cross-data-set summaries (Tables 2 and 4 layout) and every protocol table, re-rendered.
$PY benchmarks/protocol.py --render-only --out $OUT --results $R

# 2. Zero-shot teacher baseline.
$PY benchmarks/zero_shot.py --dataset ag_news huffpost --n 200 --teacher local:smollm2 --results $R

# 3. Student vs LLM (Table 5), on the transformer student distilled above.
$PY benchmarks/inference_speed.py --dataset ag_news \
  --model $OUT/ag_news/n1000-transformer/seed0/pgkd/best --out runs/bench/inference --results $R

# 4. Where a step's time goes.
$PY benchmarks/step_time.py $OUT --results $R
