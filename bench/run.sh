#!/usr/bin/env bash
# kino's benchmarks (figures for BENCHMARKS.md; nothing here asserts a time).
#   bash bench/run.sh            all of them
#   bash bench/run.sh follow     one of: follow download upload startup ledger fleet schedule scale batch
# `schedule` is a simulation (kino's poll plan against the DashScope SDK's and the seed scripts'
# schedules); it needs neither the release binary nor a sandbox.
# `ledger` and `fleet` also measure PostgreSQL when KINO_TEST_POSTGRES names a server, e.g.
#   WITH_POSTGRES_DURABLE=1 scripts/with-postgres bash bench/run.sh ledger fleet
# Needs a release build (`cargo build --release -p kino`), curl, GNU time and hyperfine
# (`apt-get install -y time hyperfine`). Everything runs against a local `kino sandbox`.
set -euo pipefail
cd "$(dirname "$0")/.."
KINO="$PWD/target/release/kino"
[ -x "$KINO" ] || [ "${1:-}" = schedule ] || { echo "build first: cargo build --release -p kino" >&2; exit 2; }
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
  seq "$JOBS" | xargs -P 4 -I{} "$KINO" submit --json --quiet --out "$WORK/follow-out" "bench job {}" > /dev/null
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
  # The same upload by hand with curl: one getPolicy, then the same PostObject form.
  curl -s -H "Authorization: Bearer $DASHSCOPE_API_KEY" \
    "$DASHSCOPE_HTTP_BASE_URL/uploads?action=getPolicy&model=wan2.6-i2v" > "$WORK/policy.json"
  pf() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['data'][sys.argv[2]])" "$WORK/policy.json" "$1"; }
  measure "curl: the same 200 MB PostObject" curl -sS -o /dev/null -w '%{http_code}' \
    -F "OSSAccessKeyId=$(pf oss_access_key_id)" -F "Signature=$(pf signature)" \
    -F "policy=$(pf policy)" -F "key=$(pf upload_dir)/curl-big.mp4" \
    -F "x-oss-object-acl=$(pf x_oss_object_acl)" -F "x-oss-forbid-overwrite=$(pf x_oss_forbid_overwrite)" \
    -F "success_action_status=200" -F "x-oss-content-type=video/mp4" \
    -F "file=@$WORK/big.mp4;type=video/mp4" "$(pf upload_host)"
  echo "  curl answered HTTP $(cat "$WORK/out.json")"
  kill %1 2>/dev/null || true
}

bench_startup() {
  export KINO_HOME="$WORK/follow-home"
  if [ ! -f "$KINO_HOME/ledger.sqlite" ]; then
    export KINO_HOME="$WORK/startup-home"
    start_sandbox 18793 --pending 600 --running 600
    seq "$JOBS" | xargs -P 4 -I{} "$KINO" submit --json --quiet --out "$WORK/startup-out" "startup job {}" > /dev/null
  fi
  echo "ledger holds $("$KINO" list --json | grep -o '"job_id"' | wc -l) jobs"
  hyperfine --warmup 3 --runs 30 -N --export-markdown "$WORK/startup.md" \
    "$KINO --version" "$KINO list --json" > /dev/null
  cat "$WORK/startup.md"
}

# A fresh database on the server of KINO_TEST_POSTGRES, printed as a URL.
fresh_pg() {
  psql -q "$KINO_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "${KINO_TEST_POSTGRES%/*}/$1"
}

bench_ledger() {
  local bin="$PWD/target/release/examples/ledger_bench"
  [ -x "$bin" ] || cargo build --release -q -p kino-ledger --example ledger_bench
  for claimers in 1 4; do
    "$bin" "$WORK/bench-$claimers.sqlite" 2000 "$claimers"
    [ -n "${KINO_TEST_POSTGRES:-}" ] && "$bin" "$(fresh_pg kino_bench_ledger_$claimers)" 2000 "$claimers"
  done
}

# The same job set (FLEET_JOBS DashScope jobs, 50 at a time per worker) followed by 1, 2 and 4
# `kino worker` processes on one ledger; the pace is off so that workers, not the rate limit,
# bound the throughput.
bench_fleet() {
  local n=${FLEET_JOBS:-400}
  start_sandbox 18794 --pending 0.5 --running 1 --tasks-qps 0
  export KINO_DASHSCOPE_QPS=0 KINO_POLL_INITIAL_MS=250 KINO_POLL_MAX_MS=1000
  for backend in sqlite postgres; do
    [ "$backend" = postgres ] && [ -z "${KINO_TEST_POSTGRES:-}" ] && continue
    for w in 1 2 4; do
      export KINO_HOME="$WORK/fleet-$backend-$w"
      if [ "$backend" = postgres ]; then export KINO_LEDGER; KINO_LEDGER=$(fresh_pg "kino_bench_fleet_$w"); else unset KINO_LEDGER; fi
      mkdir -p "$WORK/fleet-out"
      seq "$n" | xargs -P 8 -I{} "$KINO" submit --queue --json --out "$WORK/fleet-out" "fleet bench {}" > /dev/null
      local start pids=()
      start=$(date +%s.%N)
      for _ in $(seq "$w"); do "$KINO" worker --concurrency 50 2>/dev/null & pids+=($!); done
      until [ "$("$KINO" list --json --state succeeded | grep -o '"job_id"' | wc -l)" -ge "$n" ]; do sleep 0.2; done
      local secs
      secs=$(echo "$(date +%s.%N) - $start" | bc)
      kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
      printf '%-8s %d worker(s): %d jobs in %6.2f s  (%5.1f jobs/s)\n' "$backend" "$w" "$n" "$secs" "$(echo "$n / $secs" | bc -l)"
    done
  done
  unset KINO_LEDGER
  kill %1 2>/dev/null || true
}

# SCALE_JOBS (default 10000) DashScope jobs queued with `kino submit --queue`, then created,
# followed to the end and downloaded by one `kino resume`, with every job in flight at once
# (each runs 60 s + 60 s on the sandbox). Task queries keep DashScope's default bound of 18 per
# second, as against the real platform, so the wall time is set by that bound; CPU and RSS are
# kino's own cost. KINO_DASHSCOPE_QPS=0 in the environment lifts the bound.
bench_scale() {
  local n=${SCALE_JOBS:-10000}
  export KINO_HOME="$WORK/scale-home-$n"
  start_sandbox 18795 --pending 60 --running 60
  echo "queueing $n jobs…"
  seq "$n" | xargs -P 8 -I{} "$KINO" submit --queue --json --quiet --out "$WORK/scale-out-$n" "scale job {}" > /dev/null
  measure "create + follow $n jobs (kino resume)" "$KINO" resume --json
  echo "  $(grep -o '"state":"succeeded"' "$WORK/out.json" | wc -l) of $n jobs succeeded and downloaded"
  echo "  sandbox counted: $(curl -s http://127.0.0.1:18795/_sandbox/stats)"
  kill %1 2>/dev/null || true
}

# A batch of BATCH_ROWS rows over three platforms (DashScope HappyHorse, priced by the built-in
# table; skills.video; xingyun3d): the dry run's planning, the run itself, and `kino cost` after.
bench_batch() {
  local n=${BATCH_ROWS:-1000}
  export KINO_HOME="$WORK/batch-home-$n"
  "$KINO" sandbox --port 18796 --pending 1 --running 2 --json > "$WORK/sandbox-batch.json" &
  for _ in $(seq 100); do [ -s "$WORK/sandbox-batch.json" ] && break; sleep 0.1; done
  export DASHSCOPE_HTTP_BASE_URL="http://127.0.0.1:18796/api/v1" DASHSCOPE_API_KEY=sk-bench \
    SKILLS_VIDEO_API_KEY=sk-bench XINGYUN3D_APP_ID=bench XINGYUN3D_APP_SECRET=secret-bench \
    XINGYUN3D_BASE_URL="http://127.0.0.1:18796" \
    SKILLS_VIDEO_BASE_URL=$(sed -n 's/.*"skillsvideo_base_url":"\([^"]*\)".*/\1/p' "$WORK/sandbox-batch.json")
  local file="$WORK/batch-$n.jsonl"
  for i in $(seq "$n"); do
    case $((i % 3)) in
      0) echo "{\"provider\":\"dashscope\",\"model\":\"happyhorse-1.0-t2v\",\"resolution\":\"720P\",\"duration\":5,\"prompt\":\"shot {{row}}\"}" ;;
      1) echo "{\"provider\":\"skillsvideo\",\"model\":\"google/nano-banana-pro\",\"prompt\":\"image {{row}}\"}" ;;
      2) echo "{\"provider\":\"xingyun3d\",\"segment\":[{\"text\":\"line $i\"}],\"look_name\":\"AM054_Jap_9021_new\",\"tts_vcn_name\":\"XMOV_HN_TTS__236\",\"studio_name\":\"youling_2d_v\"}" ;;
    esac
  done > "$file"
  measure "batch --dry-run, $n rows" "$KINO" batch "$file" --dry-run --json --out "$WORK/batch-out"
  local hash
  hash=$(sed -n 's/.*"review":"\([0-9a-f]*\)".*/\1/p' "$WORK/out.json")
  measure "batch --review, $n rows (--concurrency 16)" "$KINO" batch "$file" --review "$hash" \
    --concurrency 16 --json --quiet --out "$WORK/batch-out"
  echo "  $(grep -o '"status":"succeeded"' "$WORK/out.json" | wc -l) of $n rows succeeded and downloaded"
  measure "kino cost after $n jobs" "$KINO" cost --json
  echo "  total: $(sed -n 's/.*"total":\({[^}]*}\).*/\1/p' "$WORK/out.json" | head -c 300)"
  kill %1 2>/dev/null || true
}

# Completion-detection delay and requests per job of four poll schedules over assumed run-time
# distributions, with kino's own PollPlan (seeded: the same figures on every run).
bench_schedule() {
  cargo run --release -q -p kino-core --example poll_schedules -- "${SCHEDULE_JOBS:-10000}"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $("$KINO" --version 2>/dev/null || echo "kino at $(git rev-parse --short HEAD)")"
for b in ${1:-follow download upload startup}; do "bench_$b"; done
