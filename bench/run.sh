#!/usr/bin/env bash
# kino's benchmarks (figures for BENCHMARKS.md; nothing here asserts a time).
#   bash bench/run.sh            all of them
#   bash bench/run.sh follow     one of: follow download upload startup
# Needs a release build (`cargo build --release -p kino`), curl, GNU time and hyperfine
# (`apt-get install -y time hyperfine`). Everything runs against a local `kino sandbox`.
set -euo pipefail
cd "$(dirname "$0")/.."
KINO="$PWD/target/release/kino"
[ -x "$KINO" ] || { echo "build first: cargo build --release -p kino" >&2; exit 2; }
WORK=$(mktemp -d /tmp/kino-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
JOBS=${JOBS:-1000}

# start_sandbox PORT ARGS… : serves in the background and exports the DashScope variables.
start_sandbox() {
  local port=$1; shift
  "$KINO" sandbox --port "$port" "$@" --json > "$WORK/sandbox-$port.json" &
  for _ in $(seq 100); do [ -s "$WORK/sandbox-$port.json" ] && break; sleep 0.1; done
  export DASHSCOPE_HTTP_BASE_URL="http://127.0.0.1:$port/api/v1" DASHSCOPE_API_KEY=sk-bench
}

# measure LABEL CMD…: GNU time's CPU seconds, peak RSS and wall time of one command.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%U %S %M %e" -o "$WORK/time" "$@" > "$WORK/out.json" 2> "$WORK/err.log" || {
    echo "$label failed:" >&2; tail -5 "$WORK/err.log" >&2; return 1; }
  read -r user sys rss wall < "$WORK/time"
  printf '%-34s cpu %6.2f s (user %s + sys %s)  peak RSS %6.1f MB  wall %6.2f s\n' \
    "$label" "$(echo "$user + $sys" | bc)" "$user" "$sys" "$(echo "scale=1; $rss / 1024" | bc)" "$wall"
}

bench_follow() {
  export KINO_HOME="$WORK/follow-home"
  start_sandbox 18790 --pending 10 --running 20
  echo "submitting $JOBS jobs…"
  seq "$JOBS" | xargs -P 4 -I{} "$KINO" submit --json --quiet "bench job {}" > /dev/null
  measure "follow $JOBS jobs (kino resume)" "$KINO" resume --json
  local done_count
  done_count=$(grep -o '"state":"succeeded"' "$WORK/out.json" | wc -l)
  echo "  $done_count of $JOBS jobs succeeded and downloaded"
  echo "  sandbox counted: $(curl -s http://127.0.0.1:18790/_sandbox/stats)"
  kill %1 2>/dev/null || true
}

bench_download() {
  export KINO_HOME="$WORK/dl-home"
  local size=$((1024 * 1024 * 1024))
  start_sandbox 18791 --pending 0.2 --running 0.5 --video-size "$size"
  mkdir -p "$WORK/dl"
  measure "run + download 1 GiB" "$KINO" run --json --out "$WORK/dl" "one big video"
  local id url
  id=$(sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p' "$WORK/out.json")
  url=$(sed -n 's/.*"url":"\([^"?]*\).*/\1/p' "$WORK/out.json")
  rm -f "$WORK"/dl/*
  measure "kino download 1 GiB (again)" "$KINO" download "$id" --out "$WORK/dl" --json
  rm -f "$WORK"/dl/*
  measure "curl 1 GiB (same file)" curl -sS -o "$WORK/dl/curl.mp4" "$url"
  kill %1 2>/dev/null || true
}

bench_upload() {
  export KINO_HOME="$WORK/up-home"
  start_sandbox 18792 --max-file-size-mb 1024
  # An MP4 header followed by 200 MB of filler: sniffed as video, streamed from disk.
  head -c 6105 crates/kino-sandbox/assets/sample.mp4 > "$WORK/big.mp4"
  head -c $((200 * 1024 * 1024)) /dev/urandom >> "$WORK/big.mp4"
  measure "upload 200 MB (getPolicy + OSS)" "$KINO" upload dashscope "$WORK/big.mp4" --json
  kill %1 2>/dev/null || true
}

bench_startup() {
  export KINO_HOME="$WORK/follow-home"
  if [ ! -f "$KINO_HOME/ledger.sqlite" ]; then
    export KINO_HOME="$WORK/startup-home"
    start_sandbox 18793 --pending 600 --running 600
    seq "$JOBS" | xargs -P 4 -I{} "$KINO" submit --json --quiet "startup job {}" > /dev/null
  fi
  echo "ledger holds $("$KINO" list --json | grep -o '"job_id"' | wc -l) jobs"
  hyperfine --warmup 3 --runs 30 -N --export-markdown "$WORK/startup.md" \
    "$KINO --version" "$KINO list --json" > /dev/null
  cat "$WORK/startup.md"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $("$KINO" --version)"
for b in ${1:-follow download upload startup}; do "bench_$b"; done
