#!/usr/bin/env bash
# One command for the whole mission, offline, on text every Python install has:
#   read -> normalize -> langid -> exact + near dedup -> quality -> domains -> select -> mix   (gristmill run)
#   -> a tiny GPT trained on the mixture with a schedule                                    (gristmill train)
#   -> one HTML page about all of it                                                         (gristmill report)
# A second run skips every finished step. Arguments go to `gristmill run` (e.g. --quiet, --force).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
export HF_HUB_OFFLINE=1
run=runs/quickstart
quiet=""
for a in "$@"; do case "$a" in -q|--quiet) quiet=--quiet;; esac; done
say() { if [ -z "$quiet" ]; then echo "$@" >&2; fi; }

t0=$SECONDS
.venv/bin/gristmill run configs/quickstart.yaml "$@" < /dev/null
t_run=$((SECONDS - t0))

# Train again only when there is no finished model, or the mixture or the settings are newer than it.
t0=$SECONDS
if [ -f "$run/train/ckpt.pt" ] && [ ! "$run/mixture.json" -nt "$run/train/ckpt.pt" ] \
   && [ ! configs/quickstart_train.yaml -nt "$run/train/ckpt.pt" ]; then
  say "[train] up to date, skipped ($run/train/ckpt.pt)"
else
  fresh=""
  if [ -f "$run/train/ckpt.pt" ]; then fresh=--no-resume; fi   # the data or settings changed: start over
  .venv/bin/gristmill train configs/quickstart_train.yaml $fresh $quiet > "$run/train_summary.json" < /dev/null
fi
t_train=$((SECONDS - t0))

t0=$SECONDS
if [ -f "$run/report.html" ] && [ ! "$run/manifest.json" -nt "$run/report.html" ] \
   && [ ! "$run/train/log.jsonl" -nt "$run/report.html" ]; then
  say "[report] up to date, skipped"
else
  .venv/bin/gristmill report "$run" -o "$run/report.html" > /dev/null < /dev/null
fi
t_report=$((SECONDS - t0))

cat <<MSG

quickstart done: pipeline ${t_run}s, training ${t_train}s, report ${t_report}s

where things are
  $run/report.html                the report: funnel, drop reasons, duplicates, selection, mixture, loss curves
  $run/NN-<stage>/kept|rejected   every stage's Parquet (rejected rows carry drop_reason)
  $(ls -d $run/*-select/selection 2>/dev/null | head -1)/       the chosen ids with rank, gain and weight
  $run/mixture.json               the mixture: domains, token shards, weights, epochs (what trainers read)
  $run/train/                     the tiny GPT: log.jsonl (per-domain held-out loss), loss.png, ckpt.pt

try next
  .venv/bin/gristmill inspect $run reasons
  .venv/bin/gristmill inspect $run sample --rejected -n 3
  .venv/bin/gristmill inspect $run sql "SELECT domain, count(*) FROM final GROUP BY 1"
  .venv/bin/gristmill run configs/quickstart.yaml --set select.budget=0.3 --name qs-30
  .venv/bin/gristmill run configs/web.yaml --set input.path='your/*.jsonl.gz'
  README.md: every command, stage, selector and schedule
MSG
