#!/usr/bin/env bash
# Whole-binary measurements for docs/benchmarks.md: files/s and peak RSS of `day2 check` on generated corpora, and
# start-up time on a small input. Usage: scripts/bench-cli.sh [sizes...]   (default: 2000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(2000 20000)
cargo build --release -q -p day2-cli -p day2-testkit
bin="${CARGO_TARGET_DIR:-target}/release/day2"
corpus_bin="${CARGO_TARGET_DIR:-target}/release/day2-corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $($bin --version)"
for n in "${sizes[@]}"; do
    "$corpus_bin" manifests "$work/m$n" "$n" >/dev/null
    sync
    best=""
    for run in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$work/time" "$bin" check "$work/m$n" -o json >"$work/out.json" || true
        # time(1) prefixes "Command exited with non-zero status 1" when findings fail the run: read the last line.
        read -r secs rss_kb < <(tail -n 1 "$work/time")
        echo "  n=$n run=$run wall=${secs}s peak_rss=$((rss_kb / 1024))MiB"
        if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; best_rss=$rss_kb; fi
    done
    findings=$(python3 -c "import json;print(len(json.load(open('$work/out.json'))['findings']))")
    awk -v n="$n" -v s="$best" -v r="$best_rss" -v f="$findings" \
        'BEGIN{printf "RESULT n=%d files best_wall=%.3fs files_per_s=%.0f peak_rss=%.0fMiB findings=%d\n", n, s, n/s, r/1024, f}'
    rm -rf "$work/m$n"
done
# Start-up: a small input (one manifest), 30 runs.
"$corpus_bin" manifests "$work/small" 1 >/dev/null
start=$(date +%s%N)
for _ in $(seq 30); do "$bin" check "$work/small" -o json >/dev/null || true; done
end=$(date +%s%N)
echo "RESULT startup_small_input mean=$(( (end - start) / 30 / 1000000 ))ms (30 runs, one file)"
