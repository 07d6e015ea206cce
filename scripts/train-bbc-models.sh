#!/usr/bin/env bash
# Reproduces the shipped BBC News models and the method benchmark from the shipped base (models/base):
#   1. dense: fine-tune the base at 512 tokens;
#   2. every pruning method: continue from the dense model under that method (same trainer, same data);
#   3. eval each on the test split (JSON under results/eval) and bench them side by side (results/bench).
# Usage: scripts/train-bbc-models.sh [OUT_DIR] [STEP…]   (steps: dense methods refine eval bench 20ng; default all)
# Needs ../shared (the datasets). Takes a couple of hours on 2 CPU cores; minutes on a GPU host (--device cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bbc}
shift || true
steps=${*:-dense methods refine eval bench 20ng}
data=${TRIAGE_SHARED:-../shared}/assets/datasets/bbc-news/bbc-news.jsonl
threads=${TRIAGE_THREADS:-0}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
[ -n "${TRIAGE_BIN:-}" ] || dotnet build src/Worker -c Release -v quiet -nologo >/dev/null
triage=${TRIAGE_BIN:-src/Worker/bin/Release/net10.0/triage}
mkdir -p "$out" results/eval

# name | method | method parameters (space-separated key=value) | training documents (evenly spaced; empty = all)
# L_c scaled from the paper's 12 layers to our 4: early 7/12 → layer 2 (half the stack then runs on the 8 combination
# tokens), late 11/12 → layer 3 (one layer after combining, as in the paper).
# The K/V-pruning-only methods change the dense model least and get half an epoch; LTP runs its soft and hard stages
# on half the split each; the combining methods, which learn new tokens, get a full epoch.
methods=(
  "ptc-p|ptc-p|p=0.9|712"
  "ptc-pf|ptc-pf|p=0.9|712"
  "ptc-c-early|ptc-c|combineLayer=2|"
  "ptc-pfc-early|ptc-pfc|p=0.9 combineLayer=2|"
  "ptc-pfc-late|ptc-pfc|p=0.9 combineLayer=3|"
  "ltp|ltp||712"
)

for step in $steps; do
  case $step in
    dense)
      "$triage" train --data "$data" --output "$out/dense" --method dense --lr 3e-4 --epochs 3 --patience 2 \
        --max-tokens 512 --storage f16 --model-version bbc-news-dense --threads "$threads"
      ;;
    methods)
      for spec in "${methods[@]}"; do
        IFS='|' read -r name method params limit <<<"$spec"
        args=()
        for p in $params; do args+=(--method-param "$p"); done
        [ -n "$limit" ] && args+=(--train-limit "$limit")
        [ -d "$out/$name" ] && continue
        "$triage" train --data "$data" --base "$out/dense" --output "$out/$name" --method "$method" "${args[@]}" \
          --lr 1e-4 --epochs "${METHOD_EPOCHS:-1}" --patience 1 --max-tokens 512 --storage f16 --model-version "bbc-news-$name" --threads "$threads"
      done
      ;;
    refine)
      # A second round for the configurations that replace layers (combining) or drop tokens (LTP): one more pass
      # at half the learning rate, continuing each from itself (its method's own parameters carry over).
      for spec in "${methods[@]}"; do
        IFS='|' read -r name method params limit <<<"$spec"
        case $name in ptc-pfc-early|ptc-pfc-late|ltp) ;; *) continue ;; esac
        [ -d "$out/$name-r2" ] && continue
        args=()
        for p in $params; do args+=(--method-param "$p"); done
        [ -n "$limit" ] && args+=(--train-limit "$limit")
        "$triage" train --data "$data" --base "$out/$name" --output "$out/$name-r2" --method "$method" "${args[@]}" \
          --lr 5e-5 --epochs 1 --patience 1 --max-tokens 512 --storage f16 --model-version "bbc-news-$name-r2" --threads "$threads"
      done
      ;;
    eval)
      for dir in "$out"/*/; do
        name=$(basename "$dir")
        case $name in 20ng-*) continue ;; esac
        "$triage" eval --model "$dir" --data "$data" --split test --json --threads "$threads" \
          --reliability-svg "results/eval/$name-reliability.svg" >"results/eval/$name.json"
      done
      ;;
    bench)
      models=(--model "dense=$out/dense")
      for spec in "${methods[@]}"; do
        IFS='|' read -r name _ _ _ <<<"$spec"
        # The refined model where there is one, else the first round's.
        if [ -d "$out/$name-r2" ]; then models+=(--model "$name-r2=$out/$name-r2")
        elif [ -d "$out/$name" ]; then models+=(--model "$name=$out/$name"); fi
      done
      "$triage" bench "${models[@]}" --data "$data" --split test --repetitions "${BENCH_REPETITIONS:-3}" \
        ${BENCH_LIMIT:+--limit "$BENCH_LIMIT"} --threads "$threads" --output results/bench
      ;;
    20ng)
      # The second dataset: 20 Newsgroups (20 classes, shorter posts), on an evenly spaced 2 000 of its 9 050 training
      # posts to fit the 2-core budget; dense from the base, then the efficiency configuration continued from it.
      ng=${TRIAGE_SHARED:-../shared}/assets/datasets/20newsgroups/20newsgroups.jsonl
      "$triage" train --data "$ng" --output "$out/20ng-dense" --method dense --lr 3e-4 --epochs 2 --patience 2 --max-tokens 256 \
        --train-limit 2000 --validation-limit 400 --storage f16 --model-version 20ng-dense --threads "$threads"
      "$triage" train --data "$ng" --base "$out/20ng-dense" --output "$out/20ng-ptc-pfc-early" --method ptc-pfc \
        --method-param p=0.9 --method-param combineLayer=2 --lr 1e-4 --epochs 1 --patience 1 --max-tokens 256 \
        --train-limit 2000 --validation-limit 400 --storage f16 --model-version 20ng-ptc-pfc-early --threads "$threads"
      for name in 20ng-dense 20ng-ptc-pfc-early; do
        "$triage" eval --model "$out/$name" --data "$ng" --split test --limit 1000 --json --threads "$threads" >"results/eval/$name.json"
      done
      ;;
    *) echo "unknown step '$step' (dense, methods, refine, eval, bench, 20ng)" >&2; exit 2 ;;
  esac
done
