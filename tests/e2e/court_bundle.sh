#!/usr/bin/env bash
# A court bundle from a real three-node network, verified with every node
# stopped, then tampered with in thirteen ways that must each fail at the right
# check:
# - three custos-node processes (Raft over mutual TLS), the demo identities
#   and the demo case, as ./scripts/run sets them up;
# - the bundle of E-DEMO-1 fetched through a gateway, and an older signed
#   head kept aside;
# - every node stopped; `custos bundle verify` must pass offline;
# - thirteen tamperings with jq, each refused with exit status 1 and the
#   check named in docs/verification.md §5.
#
#   tests/e2e/court_bundle.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/e2e-lib.sh" "${1:-}" court_bundle.sh
get() { "$CUSTOS" get "$2" --key "$(demo_key "$1")" --identity "$1" --gateway "$GATEWAY"; }

demo_genesis 3
demo_network_configs 3
for n in 1 2 3; do demo_start_node "$n"; done
GATEWAY="http://127.0.0.1:$(jq -r .listen.port "$DEMO_DIR/node1.json")"
for n in 1 2 3; do
  demo_wait_ready "http://127.0.0.1:$(jq -r .listen.port "$DEMO_DIR/node$n.json")" 30 "$n"
done
demo_wait_leader "$GATEWAY"
demo_enrol
# A signed head from before the case: the "older head" to swap in later.
get court-judge-1 /v1/chain/head | jq '.signed_head' > "$DEMO_DIR/old-head.json"
[ "$(jq '.signatures | length' "$DEMO_DIR/old-head.json")" -ge 2 ] \
  || fail "the head has no majority of signatures: $(cat "$DEMO_DIR/old-head.json")"
demo_case
# The lab analyst's key is revoked after the case: the bundle must still
# verify (the analyst signed while valid), and hiding the revocation must not.
demo_tx identity.revoke '{"id":"nfi-analyst-1","reason":"KEYLOSS-7"}' nfi-admin

get court-judge-1 /v1/evidence/E-DEMO-1/bundle > "$DEMO_DIR/bundle.json"
jq -e '.bundle == "custos-bundle/1" and (.item.events | length) == 4' "$DEMO_DIR/bundle.json" \
  >/dev/null || fail "unexpected bundle: $(head -c 500 "$DEMO_DIR/bundle.json")"

demo_stop_nodes
for n in 1 2 3; do
  curl -s -o /dev/null "http://127.0.0.1:$(jq -r .listen.port "$DEMO_DIR/node$n.json")/healthz" \
    && fail "node$n still answers"
done

GENESIS="$DEMO_DIR/genesis.json"
"$CUSTOS" bundle verify "$DEMO_DIR/bundle.json" --genesis "$GENESIS" > "$DEMO_DIR/report.txt" \
  || fail "the untouched bundle did not verify: $(cat "$DEMO_DIR/report.txt")"
grep -q '^VERIFIED' "$DEMO_DIR/report.txt" || fail "no VERIFIED line"
grep -q 'handover' "$DEMO_DIR/report.txt" || fail "the timeline lacks the handover"
cat "$DEMO_DIR/report.txt"

# tamper NAME EXPECTED_CHECK JQ_FILTER [GENESIS]: the tampered bundle must be
# refused (exit 1) at EXPECTED_CHECK.
tampered=0
tamper() {
  local name=$1 expected=$2 filter=$3 genesis=${4:-$GENESIS} out rc=0
  jq --slurpfile old "$DEMO_DIR/old-head.json" "$filter" "$DEMO_DIR/bundle.json" \
    > "$DEMO_DIR/tampered.json" || fail "$name: jq failed"
  if [ "$genesis" = "$GENESIS" ] && cmp -s "$DEMO_DIR/tampered.json" "$DEMO_DIR/bundle.json"; then
    fail "$name: nothing was changed"
  fi
  out=$("$CUSTOS" bundle verify "$DEMO_DIR/tampered.json" --genesis "$genesis" --json) || rc=$?
  [ "$rc" -eq 1 ] || fail "$name: exit status $rc, expected 1"
  local got detail
  got=$(jq -r .failed_check <<<"$out")
  detail=$(jq -r '.checks[-1].detail' <<<"$out")
  [ "$got" = "$expected" ] || fail "$name: failed at $got ($detail), expected $expected"
  printf 'tampering %-40s refused at %-16s %s\n' "$name" "$got" "$detail"
  tampered=$((tampered + 1))
}

tamper "byte flipped in an event" history_chain '.item.events[1].block_time_ms += 1'
tamper "event no longer its transaction's" event_txs \
  '.item.events[1].data.location |= "X" + .'
tamper "event dropped" history_chain 'del(.item.events[1])'
tamper "two events reordered" history_chain '.item.events |= [.[0], .[2], .[1]] + .[3:]'
tamper "last event dropped (truncation)" completeness 'del(.item.events[-1])'
tamper "signature replaced" tx_signatures \
  '(.transactions[] | select(.tx.function == "handover") | .tx.signatures[1].signature) =
     .transactions[0].tx.signatures[0].signature'
tamper "older head swapped in" log_inclusion '.signed_head = $old[0]'
tamper "signer's enrolment removed" signers \
  '.identities |= map(select(.identity_id != "nfi-analyst-1"))'
tamper "signer's revocation hidden" completeness \
  '(.identities[] | select(.identity_id == "nfi-analyst-1") | .events) |= .[:-1]'
tamper "head signatures cut below a majority" head_signatures \
  '.signed_head.signatures |= .[:1]'
tamper "transaction arguments changed" tx_signatures \
  '(.transactions[] | select(.tx.function == "register") | .tx.args.description) = "a tablet"'
tamper "byte of the head changed" head_signatures \
  '.signed_head.head.log_size += 1'
jq '.created_at_ms += 1' "$GENESIS" > "$DEMO_DIR/other-genesis.json"
tamper "another network's genesis" genesis '.' "$DEMO_DIR/other-genesis.json"
[ "$tampered" -eq 13 ] || fail "only $tampered tamperings ran"
echo "court bundle e2e: verified offline; $tampered tamperings refused at the right check"
