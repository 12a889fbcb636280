#!/usr/bin/env bash
# End to end through a real custos-node process, driven with the custos
# client and curl as a user would:
# - a custody case: seizure, two co-signed handovers, a lab derivation, a
#   court exhibit, destruction with a judge's authorisation; the history and
#   its hash chain; refusals through the client;
# - the provenance register: three artefacts whose customs verdicts are
#   CLEAR, REVIEW and ALERT;
# - the funds register: a paid-out transfer whose positions sum to zero;
# - a restart that must change nothing.
#
#   tests/e2e/single_node.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/e2e-lib.sh" "${1:-}" single_node.sh

# get IDENTITY PATH: a read through the client, JSON on stdout.
get() {
  "$CUSTOS" get "$2" --key "$(demo_key "$1")" --identity "$1" --gateway "$GATEWAY"
}

demo_genesis 1
demo_node_config 1 "$(demo_free_port)"
GATEWAY="http://127.0.0.1:$(jq -r .listen.port "$DEMO_DIR/node1.json")"
demo_start_node 1
demo_wait_ready "$GATEWAY"
demo_enrol

t=$(( $(now_ms) - 600000 ))
demo_tx custody.open_case '{"case_id":"C-E2E","reference":"JIT-E2E","member_orgs":["nfi-lab"]}' nl-police-inv-1
demo_tx custody.grant_access '{"case_id":"C-E2E","identity_id":"court-judge-1"}' nl-police-inv-1
demo_tx custody.grant_access '{"case_id":"C-E2E","identity_id":"court-clerk-1"}' nl-police-inv-1
demo_tx custody.register "{\"case_id\":\"C-E2E\",\"item_id\":\"E-1\",\"kind\":\"physical\",\"description\":\"Laptop, grey\",\"content_hash\":null,\"seal_numbers\":[\"S-1\"],\"location\":\"Evidence room\",\"seized_at_ms\":$t,\"place\":\"Utrecht, search\",\"legal_authority_ref\":\"RC-1\"}" nl-police-inv-1
demo_tx custody.handover "{\"item_id\":\"E-1\",\"to\":\"nfi-analyst-1\",\"purpose\":\"imaging\",\"location\":\"Lab intake\",\"seals_intact\":true,\"seal_numbers\":[\"S-1\"],\"condition\":\"as seized\",\"declared_at_ms\":$((t + 1000))}" nl-police-inv-1 nfi-analyst-1
image_hash=$(printf 'disk image' | sha256sum | cut -c1-64)
demo_tx custody.derive "{\"parent_id\":\"E-1\",\"item_id\":\"E-1-IMG\",\"kind\":\"digital\",\"description\":\"Disk image of E-1\",\"content_hash\":\"$image_hash\",\"declared_at_ms\":$((t + 2000))}" nfi-analyst-1
demo_tx custody.handover "{\"item_id\":\"E-1\",\"to\":\"court-clerk-1\",\"purpose\":\"trial\",\"location\":\"Court registry\",\"seals_intact\":true,\"seal_numbers\":[\"S-2\"],\"condition\":\"resealed after imaging\",\"declared_at_ms\":$((t + 3000))}" nfi-analyst-1 court-clerk-1
demo_tx custody.exhibit "{\"item_id\":\"E-1\",\"court_ref\":\"TRIAL-2026-9\",\"declared_at_ms\":$((t + 4000))}" court-clerk-1
demo_tx custody.destroy "{\"item_id\":\"E-1\",\"authorisation_ref\":\"ORDER-2026-77\",\"authorised_by\":\"court-judge-1\",\"declared_at_ms\":$((t + 5000)),\"method\":\"shredding\"}" court-clerk-1 court-judge-1

# --- the history and its hash chain ---------------------------------------
history=$(get court-judge-1 /v1/evidence/E-1/history)
expect_eq "$(jq -r '[.events[].type] | join(",")' <<<"$history")" \
  "register,handover,derive,handover,exhibit,destroy" "event types"
expect_eq "$(jq -r '.event_count' <<<"$history")" 6 "event count"
expect_eq "$(jq -r '[.events[].seq] | join(",")' <<<"$history")" "0,1,2,3,4,5" "seqs"
expect_eq "$(jq -r '.events[0].prev_event_hash' <<<"$history")" "$(printf '0%.0s' $(seq 64))" \
  "first event has no predecessor"
links=$(jq -r '[range(1; .events | length) as $i
               | .events[$i].prev_event_hash == .events[$i - 1].event_hash] | all' <<<"$history")
expect_eq "$links" true "each event links to the one before"
expect_eq "$(jq -r '.events[-1].event_hash == .head_event_hash' <<<"$history")" true \
  "the last event is the head"
expect_eq "$(jq -r '.events[1].cosigners | join(",")' <<<"$history")" nfi-analyst-1 \
  "handover co-signed by the receiver"
expect_eq "$(jq -r '.events[5].cosigners | join(",")' <<<"$history")" court-judge-1 \
  "destruction co-signed by the judge"
item=$(get court-judge-1 /v1/evidence/E-1)
expect_eq "$(jq -r .status <<<"$item")" destroyed "final status"
expect_eq "$(jq -r .custodian <<<"$item")" court-clerk-1 "last custodian"
image=$(get nfi-analyst-1 /v1/evidence/E-1-IMG/history)
expect_eq "$(jq -r '.events[0].data.parent_id' <<<"$image")" E-1 "derived item names its parent"
expect_eq "$(jq -r '.events[0].data.parent_event_hash' <<<"$image")" \
  "$(jq -r '.events[2].event_hash' <<<"$history")" "derived item bound to the parent's chain"
# Paging returns the same events.
page2=$(get court-judge-1 "/v1/evidence/E-1/history?from=3&limit=3")
expect_eq "$(jq -c .events <<<"$page2")" "$(jq -c '.events[3:]' <<<"$history")" "second page"

# --- refusals through the client ------------------------------------------
tx=$(mktemp "$DEMO_DIR/bad.XXXXXX.json")
printf '{"item_id":"E-1","court_ref":"X","declared_at_ms":%s}' $((t + 6000)) \
  | "$CUSTOS" tx new custody.exhibit - > "$tx"
"$CUSTOS" tx sign "$tx" --key "$(demo_key court-clerk-1)" 2>/dev/null
if "$CUSTOS" tx submit "$tx" --gateway "$GATEWAY" --wait 2>"$tx.err"; then
  fail "an event on a destroyed item was accepted"
fi
grep -q ITEM_FINAL "$tx.err" || fail "expected ITEM_FINAL, got: $(cat "$tx.err")"
if "$CUSTOS" tx submit "$tx" --gateway "$GATEWAY" --wait 2>"$tx.err"; then
  fail "a replayed transaction was accepted"
fi
grep -q DUPLICATE_TX "$tx.err" || fail "expected DUPLICATE_TX, got: $(cat "$tx.err")"
if get customs-officer-1 /v1/evidence/E-1 2>"$tx.err" >/dev/null; then
  fail "a non-member read the case's evidence"
fi
grep -q NOT_CASE_MEMBER "$tx.err" || fail "expected NOT_CASE_MEMBER, got: $(cat "$tx.err")"
token=$(CUSTOS_IDENTITY=court-judge-1 "$CUSTOS" token --key "$(demo_key court-judge-1)")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token}x" \
  "$GATEWAY/v1/evidence/E-1")
expect_eq "$status" 401 "a forged token"

# --- provenance and funds ---------------------------------------------------
demo_artefacts
demo_transfers
verdict() {
  get customs-officer-1 "/v1/artefacts/$1/verify" | jq -r '[.verdict] + [.reasons[].code] | join(" ")'
}
expect_eq "$(verdict A-DEMO-CLEAR)" "CLEAR" "licensed export and import"
expect_eq "$(verdict A-DEMO-GAP)" "REVIEW NO_PRE_1970_PROVENANCE" "history starting in 1985"
expect_eq "$(verdict A-DEMO-STOLEN)" "ALERT REPORTED_STOLEN" "reported stolen"
sum=0
for agent in agent-ams-1 agent-rtm-1; do
  n=$(get fiu-analyst-1 "/v1/agents/$agent/positions" | jq '[.positions[].net_minor] | add')
  sum=$((sum + n))
done
expect_eq "$sum" 0 "net positions sum to zero"
expect_eq "$(get agent-rtm-1 /v1/agents/agent-rtm-1/positions | jq -c '.positions[0]')" \
  '{"counterparty":"agent-ams-1","currency":"EUR","net_minor":25000}' "the paying agent is owed"
if get agent-rtm-1 /v1/agents/agent-ams-1/positions >/dev/null 2>&1; then
  fail "an agent read another agent's positions"
fi

# --- the signed head: node1 signs each head it applies ------------------------
head_before=$(get court-judge-1 /v1/chain/head)
expect_eq "$(jq -r '.signed_head.head.height == .height and .signed_head.head.log_root == .log_root' <<<"$head_before")" \
  true "the signed head is the head"
expect_eq "$(jq -r '[.signed_head.signatures[].node] | join(" ")' <<<"$head_before")" node1 \
  "the head's signer"

# --- a restart changes nothing ---------------------------------------------
demo_stop_nodes
demo_start_node 1
demo_wait_ready "$GATEWAY"
expect_eq "$(get court-judge-1 /v1/chain/head)" "$head_before" "head after restart"
expect_eq "$(get court-judge-1 /v1/evidence/E-1/history)" "$history" "history after restart"
echo "e2e single node: OK ($(jq -r .height <<<"$head_before") blocks)"
