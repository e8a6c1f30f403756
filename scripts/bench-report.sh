#!/usr/bin/env bash
# Whole-process figures for `setupkeys audit --report` on generated reports: wall time (hyperfine)
# and peak memory (GNU time) at 5,000 and 50,000 users, to show memory stays flat in users.
# Prints a markdown section for BENCHMARKS.md. Needs hyperfine and GNU time (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/setupkeys" ./cmd/setupkeys
for n in 5000 50000; do
  go run ./internal/tools/genreport -users "$n" > "$work/report-$n.csv"
done
echo "### audit --report --format json, whole process ($(date -u +%Y-%m-%d), $(go version | cut -d' ' -f3), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo '| users | mean wall time | min | max RSS |'
echo '|---|---|---|---|'
for n in 5000 50000; do
  args=(audit --report "$work/report-$n.csv" --format json)
  hyperfine --warmup 5 --runs 50 -N -i --export-json "$work/h.json" "$work/setupkeys ${args[*]}" >/dev/null 2>&1
  read -r mean min < <(python3 -c "import json;r=json.load(open('$work/h.json'))['results'][0];print('%.1f'%(r['mean']*1000),'%.1f'%(r['min']*1000))")
  rss=$( { /usr/bin/time -f '%M' "$work/setupkeys" "${args[@]}" >/dev/null; } 2>&1 | tail -1 || true)
  echo "| $n | $mean ms | $min ms | $((rss / 1024)) MiB |"
done
