#!/usr/bin/env bash
# custos-bench against one real custos-node: it sets up its own workload on
# the demo organisations, runs 3 s of closed-loop load at concurrency 4 with
# reads beside it, and writes its results. Checks that it exits 0, that the
# JSON parses and counts committed handovers and reads, and that the chart is
# an SVG document. Then 2 s in batches of 16 (POST /v1/transactions/batch):
# something committed, nothing failed. No timing is asserted: that is what
# the bench prints.
#
#   tests/e2e/bench_smoke.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/e2e-lib.sh" "${1:-}" bench_smoke.sh
BENCH="$BUILD/bench/custos-bench"

demo_genesis 1
demo_node_config 1 "$(demo_free_port)"
GATEWAY="http://127.0.0.1:$(jq -r .listen.port "$DEMO_DIR/node1.json")"
demo_start_node 1
demo_wait_ready "$GATEWAY"
# The demo artefacts, for the verify reads (their holders must be enrolled).
demo_enrol
demo_artefacts

# Bad input is refused with a usage error before anything is sent.
set +e
"$BENCH" --network-dir "$DEMO_DIR" --concurrency 0 >/dev/null 2>&1; status=$?
set -e
[ "$status" -eq 2 ] || fail "--concurrency 0: expected exit 2, got $status"
set +e
"$BENCH" --network-dir "$DEMO_DIR/missing" --duration 1 >/dev/null 2>"$DEMO_DIR/err"; status=$?
set -e
[ "$status" -eq 1 ] || fail "a missing network folder: expected exit 1, got $status"
grep -q "is not a folder" "$DEMO_DIR/err" || fail "a missing network folder: $(cat "$DEMO_DIR/err")"
set +e
"$BENCH" --network-dir "$DEMO_DIR" --batch 16 --items-per-worker 8 >/dev/null 2>&1; status=$?
set -e
[ "$status" -eq 2 ] || fail "--items-per-worker below --batch: expected exit 2, got $status"

"$BENCH" --network-dir "$DEMO_DIR" --duration 3 --concurrency 4 --reads-per-s 20 --tx-reads-per-s 10 \
  --out "$DEMO_DIR/results.json" --svg "$DEMO_DIR/latency.svg" > "$DEMO_DIR/bench.out" \
  || { cat "$DEMO_DIR/bench.out" >&2; fail "custos-bench exited non-zero"; }
cat "$DEMO_DIR/bench.out"

results="$DEMO_DIR/results.json"
jq -e . "$results" >/dev/null || fail "results.json does not parse"
committed=$(jq -r .throughput.committed "$results")
[ "$committed" -gt 0 ] || fail "nothing committed: $(jq -c .failures "$results")"
[ "$(jq -r '.failures | length' "$results")" -eq 0 ] || fail "failures: $(jq -c .failures "$results")"
[ "$(jq -r .reads.history.count "$results")" -gt 0 ] || fail "no history reads"
[ "$(jq -r .reads.verify.count "$results")" -gt 0 ] || fail "no verify reads"
# Committed transactions with their proofs, read with the admin's token.
[ "$(jq -r .reads.tx_read.count "$results")" -gt 0 ] || fail "no tx reads"
jq -e '.reads.tx_reads.ids > 0 and .reads.tx_reads.ledger_txs > 0' "$results" >/dev/null \
  || fail "tx reads: no transactions picked: $(jq -c .reads.tx_reads "$results")"
grep -q '^tx+proof: ' "$DEMO_DIR/bench.out" || fail "no tx+proof line"
[ "$(jq -r '.series | length' "$results")" -eq 3 ] || fail "expected 3 seconds in the series"
jq -e '.bound_tx_s > 0 and .verify.verifies_per_s_one_core > 0' "$results" >/dev/null \
  || fail "no verification bound"
grep -q '^ratio: .* tx/s / bound .* tx/s = ' "$DEMO_DIR/bench.out" || fail "no ratio line"
[ "$(head -c 4 "$DEMO_DIR/latency.svg")" = "<svg" ] || fail "latency.svg does not start with <svg"
grep -q '</svg>' "$DEMO_DIR/latency.svg" || fail "latency.svg is not closed"

"$BENCH" --network-dir "$DEMO_DIR" --duration 2 --concurrency 2 --batch 16 --txs 6000 \
  --out "$DEMO_DIR/batch.json" > "$DEMO_DIR/batch.out" \
  || { cat "$DEMO_DIR/batch.out" >&2; fail "custos-bench --batch 16 exited non-zero"; }
cat "$DEMO_DIR/batch.out"
batch="$DEMO_DIR/batch.json"
[ "$(jq -r .config.batch "$batch")" -eq 16 ] || fail "--batch 16: config.batch is not 16"
grep -q '^mode: .*, batch 16,' "$DEMO_DIR/batch.out" || fail "--batch 16: no batch in the mode line"
batch_committed=$(jq -r .throughput.committed "$batch")
[ "$batch_committed" -gt 0 ] || fail "--batch 16: nothing committed: $(jq -c .failures "$batch")"
[ "$(jq -r '.failures | length' "$batch")" -eq 0 ] || fail "--batch 16: failures: $(jq -c .failures "$batch")"
echo "bench smoke: OK ($committed handovers committed; $batch_committed in batches of 16)"
