#!/usr/bin/env bash
# bench/run.sh — every benchmark of issue 8 (item 4), one after another, into
# bench/RESULTS.md (written afresh): the machine, a summary of every target
# with PASS/MISS, then each benchmark's own section.
#
#   bench/run.sh            full run (about 15 minutes)
#   bench/run.sh --quick    smoke run: every benchmark, small and short (about 3 minutes)
#
# Needs MariaDB and Redis on this machine (override with HAZARDBOT_BENCH_MYSQL,
# a go-sql-driver DSN whose database name is ignored, and HAZARDBOT_BENCH_REDIS).
# The benchmarks create and drop their own databases (hb_bench_instances,
# hb_bench_conversation, hb_bench_memory, hb_bench_<n> for the broadcast) except
# hb_bench, the console's 1,000,000 cases, which is kept and reused.
# Work files and logs go to bench/out/ (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."
mode=full
case "${1:-}" in
--quick) mode=quick ;;
"") ;;
*)
	echo "usage: bench/run.sh [--quick]" >&2
	exit 2
	;;
esac

MYSQL=${HAZARDBOT_BENCH_MYSQL:-root@tcp(127.0.0.1:3306)/}
REDIS=${HAZARDBOT_BENCH_REDIS:-redis://127.0.0.1:6379/0}
out=bench/out
results=bench/RESULTS.md
mkdir -p "$out"
rm -f "$out"/*.md "$out"/summary.rows

if [[ $mode == quick ]]; then
	webhook=(-duration 1s -rounds 2 -warmup 300ms)
	instances=(-duration 1s -rounds 2 -warmup 300ms)
	conversation=(-duration 2s -rounds 2 -warmup 1s -open-duration 3s -think 200ms -loads 0.5)
	broadcast=(-n 1000,2000 -lease 2s -grace 1s)
	console=(-n 20000 -db hb_bench_quick -reps 5)
	memory=(-n 5000 -n-redis 2000)
else
	webhook=(-duration 5s -rounds 5)
	instances=(-duration 5s -rounds 5)
	conversation=(-duration 5s -rounds 3)
	broadcast=(-n 10000,100000)
	console=(-reps 30 -budget 6s)
	memory=(-n 100000 -n-redis 20000)
fi

started=$(date +%s)
log() { printf '%s [%3ds] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - started))" "$*" >&2; }
load() { cut -d' ' -f1 /proc/loadavg; }

log "building cmd/hazardbot"
go build -o "$out/hazardbot" ./cmd/hazardbot

# Each benchmark writes its section to $out/<name>.md; ours also append their
# verdict rows to $out/summary.rows. A benchmark that fails leaves a note
# instead of stopping the others.
declare -A took loadavg
failed=()
bench() {
	local name=$1
	shift
	log "$name: $*"
	local t0 l0
	t0=$(date +%s)
	l0=$(load)
	if ! "$@" >"$out/$name.stdout" 2>"$out/$name.log"; then
		failed+=("$name")
		printf '## %s\n\n**Failed**: `%s` exited with an error; the end of its log:\n\n```\n%s\n```\n' \
			"$name" "$*" "$(tail -n 20 "$out/$name.log")" >"$out/$name.md"
	fi
	took[$name]=$(($(date +%s) - t0))
	loadavg[$name]="$l0 → $(load)"
	log "$name: done in ${took[$name]} s"
}

bench webhook go run ./bench/webhook "${webhook[@]}" -redis "$REDIS" -out "$out/webhook.md"
bench instances go run ./bench/instances "${instances[@]}" -bin "$out/hazardbot" -mysql "$MYSQL" -redis "$REDIS" \
	-out "$out/instances.md" -summary "$out/summary.rows"
bench conversation go run ./bench/conversation "${conversation[@]}" -bin "$out/hazardbot" -mysql "$MYSQL" -redis "$REDIS" \
	-out "$out/conversation.md" -summary "$out/summary.rows"
bench broadcast go run ./bench/broadcast "${broadcast[@]}" -mysql "${MYSQL%/}/mysql?parseTime=true" -out "$out/broadcast.md"
bench console go run ./bench/console "${console[@]}" -mysql "$MYSQL" -out "$out/console.md" -summary "$out/summary.rows"
bench memory go run ./bench/memory "${memory[@]}" -bin "$out/hazardbot" -mysql "$MYSQL" -redis "$REDIS" \
	-out "$out/memory.md" -summary "$out/summary.rows"

# Verdict rows of the two benchmarks written by others, from their tables.
webhook_rows() {
	# | (b) title | msgs/s | p50 | p99 | errors | degraded | CPU/msg | vs (a) | target | result |
	awk -F' \\| ' '/^\| \((b|c)\) / && NF >= 10 {
		sub(/^\| /, "", $1); sub(/ \|$/, "", $10)
		printf "| webhook, %s | %s msgs/s = %s × (a); p99 %s | %s | %s |\n", $1, $2, $8, $4, $9, $10
	}' "$out/webhook.md"
}
broadcast_rows() {
	# | recipients | run | elapsed | deliveries/s | peak RSS | customer-service | template | duplicates | losses | verdict |
	awk -F' \\| ' '/^\| [0-9]+ \| / && NF >= 10 {
		sub(/^\| /, "", $1); sub(/ \|$/, "", $10)
		printf "| broadcast (MariaDB), %s recipients, %s | %s deliveries/s, peak RSS %s, %s duplicates, %s losses | ≥ 2,000/s, < 150 MB, 0 duplicates, 0 losses | %s |\n", $1, $2, $4, $5, $8, $9, $10
	}' "$out/broadcast.md"
}

mysql_version=$(go run ./bench/console -version -mysql "$MYSQL" 2>/dev/null || echo unknown)
redis_version=$( (command -v redis-cli >/dev/null && redis-cli -u "$REDIS" INFO server 2>/dev/null | tr -d '\r' |
	awk -F: '/^redis_version:/ {print $2}') || true)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mhz=$(awk -F': ' '/^cpu MHz/ {printf "%.0f MHz", $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo)
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | wc -l)

{
	echo "# Benchmark results"
	echo
	echo "Written by \`bench/run.sh$([[ $mode == quick ]] && echo ' --quick')\` on $(date -u '+%Y-%m-%d %H:%M UTC') in $((($(date +%s) - started) / 60)) min; every section below comes from that one run."
	[[ $mode == quick ]] && echo && echo "**Quick mode**: small sizes and short rounds, a smoke test of the benchmarks; the figures are not the results."
	echo
	echo "## Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPUs | $(nproc) × ${cpu:-unknown} ($mhz) |"
	echo "| memory | $mem |"
	echo "| kernel | $(uname -sr) |"
	echo "| Go | $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH) |"
	echo "| MariaDB | ${mysql_version} |"
	echo "| Redis | ${redis_version:-unknown} |"
	echo "| hazardbot | commit $commit$([[ $dirty != 0 ]] && echo " with $dirty uncommitted changes in the working tree (shared with other work in progress)") |"
	echo "| load average (1 min), start → end of each benchmark | $(for n in webhook instances conversation broadcast console memory; do printf '%s %s, ' "$n" "${loadavg[$n]:-—}"; done | sed 's/, $//') |"
	echo
	echo "The machine is shared and noisy: other jobs run on the same 2 cores, MariaDB and Redis while these benchmarks do"
	echo "(the load averages above show how much). So the throughput figures are ratios against a baseline measured"
	echo "in the same run, interleaved round by round, wherever a target is a ratio; absolute figures vary from run to run."
	echo
	echo "## Summary"
	echo
	echo "| benchmark | measured | target | result |"
	echo "|---|---|---|---|"
	webhook_rows || true
	grep -h '^| webhook,' "$out/summary.rows" 2>/dev/null || true
	grep -h '^| whole conversations' "$out/summary.rows" 2>/dev/null || true
	broadcast_rows || true
	grep -h '^| console' "$out/summary.rows" 2>/dev/null || true
	grep -h '^| memory' "$out/summary.rows" 2>/dev/null || true
	for f in "${failed[@]}"; do
		echo "| $f | — | — | **FAILED** (see its section) |"
	done
	echo
	echo "Each benchmark's section follows: how it was measured, every figure, and why a target is missed."
	echo "bench/README.md describes the benchmarks and how to run each alone. Time taken: $(for n in webhook instances conversation broadcast console memory; do printf '%s %ss, ' "$n" "${took[$n]:-—}"; done | sed 's/, $//')."
	for n in webhook instances conversation broadcast console memory; do
		echo
		cat "$out/$n.md"
	done
} >"$results"

log "wrote $results"
if ((${#failed[@]})); then
	log "failed: ${failed[*]} (logs in $out/)"
	exit 1
fi
