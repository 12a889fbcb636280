# Functions that build and drive a local Custos network with the `custos`
# client, shared by scripts/run (the demo network) and tests/e2e (the
# end-to-end test). Source after scripts/lib.sh. They print what they do on
# stderr and stop the script (die) on any failure.
#
# Expects: CUSTOS (path of the custos binary), NODE_BIN (custos-node),
# DEMO_DIR (the network's folder), CUSTOS_PASSPHRASE (one passphrase for the
# demo keystores), CUSTOS_NETWORK (network id).

# demo_key IDENTITY: path of an identity's keystore.
demo_key() { printf '%s/wallet/%s.key' "$DEMO_DIR" "$1"; }

# demo_keygen IDENTITY...: creates the keystores that do not exist yet.
demo_keygen() {
  mkdir -p "$DEMO_DIR/wallet"
  local id
  for id in "$@"; do
    [ -f "$(demo_key "$id")" ] || "$CUSTOS" keygen --out "$(demo_key "$id")" >/dev/null \
      || die "keygen $id failed"
  done
}

# demo_tx CALL ARGS_JSON SIGNER [COSIGNER...]: builds, signs and submits a
# transaction with ?wait=commit; prints the gateway's answer; fails unless
# it committed with result OK.
demo_tx() {
  local call=$1 args=$2; shift 2
  local tx; tx=$(mktemp "$DEMO_DIR/tx.XXXXXX.json")
  printf '%s' "$args" | "$CUSTOS" tx new "$call" - > "$tx" || die "tx new $call failed"
  local signer
  for signer in "$@"; do
    "$CUSTOS" tx sign "$tx" --key "$(demo_key "$signer")" 2>"$tx.err" \
      || { cat "$tx.err" >&2; die "signing $call as $signer failed"; }
  done
  "$CUSTOS" tx submit "$tx" --gateway "$GATEWAY" --wait >/dev/null 2>"$tx.err" \
    || { cat "$tx.err" >&2; die "$call signed by $* was not committed"; }
  rm -f "$tx" "$tx.err"
  log "committed $call ($*)"
}

# demo_wait_ready URL [SECONDS]: waits for /readyz.
demo_wait_ready() {
  local url=$1 deadline=$((SECONDS + ${2:-30}))
  until curl -fsS "$url/readyz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "node at $url not ready after ${2:-30} s"
    sleep 0.2
  done
}

# demo_free_port: prints a TCP port on 127.0.0.1 that is free right now.
demo_free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# demo_node_config N PORT: writes DEMO_DIR/nodeN.json.
demo_node_config() {
  cat > "$DEMO_DIR/node$1.json" <<JSON
{
  "node_id": "node$1",
  "data_dir": "node$1",
  "genesis_file": "genesis.json",
  "listen": {"host": "127.0.0.1", "port": $2},
  "block": {"txs_max": 500, "bytes_max": 4194304, "wait_ms_max": 5},
  "mempool": {"txs_max": 20000, "bytes_max": 67108864},
  "http": {"threads": 8, "body_bytes_max": 131072, "commit_wait_ms_max": 10000}
}
JSON
}

# demo_start_node N: starts custos-node in the background, logging to
# DEMO_DIR/nodeN.log, and records its pid in DEMO_DIR/nodeN.pid.
demo_start_node() {
  "$NODE_BIN" --config "$DEMO_DIR/node$1.json" >>"$DEMO_DIR/node$1.log" 2>&1 &
  echo $! > "$DEMO_DIR/node$1.pid"
}

# demo_stop_nodes: stops every node with a pid file in DEMO_DIR.
demo_stop_nodes() {
  local f pid
  for f in "$DEMO_DIR"/node*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
  done
}

# The demo organisations: id|kind|name|admin identity.
DEMO_ORGS=(
  "nl-police|police|Politie Nederland (demo)|nl-police-admin"
  "europol|europol|Europol (demo)|europol-admin"
  "nfi-lab|forensic_lab|Forensic Institute (demo)|nfi-admin"
  "court-hague|court|District Court The Hague (demo)|court-admin"
  "nl-customs|customs|Customs NL (demo)|customs-admin"
)

# The demo identities: id|org|roles (comma-separated).
DEMO_IDENTITIES=(
  "nl-police-inv-1|nl-police|investigator,custodian"
  "nl-police-evidence-1|nl-police|custodian"
  "nl-police-prosecutor-1|nl-police|prosecutor"
  "europol-analyst-1|europol|investigator"
  "europol-auditor-1|europol|auditor"
  "nfi-analyst-1|nfi-lab|forensic_analyst,custodian"
  "court-judge-1|court-hague|judge"
  "court-clerk-1|court-hague|court_clerk"
  "customs-officer-1|nl-customs|customs_officer"
)

# demo_genesis NODES: keystores for the org admins, then genesis.json.
demo_genesis() {
  local nodes=$1 entry args=() id kind name admin
  for entry in "${DEMO_ORGS[@]}"; do
    IFS='|' read -r id kind name admin <<<"$entry"
    demo_keygen "$admin"
    args+=(--org "$id,$kind,$name" --admin "$id,$admin,$(demo_key "$admin")")
  done
  local n
  for n in $(seq 1 "$nodes"); do args+=(--node "node$n,nl-police"); done
  "$CUSTOS" genesis --network "$CUSTOS_NETWORK" "${args[@]}" --out "$DEMO_DIR/genesis.json" \
    >/dev/null || die "genesis failed"
}

# demo_enrol: keystores and on-chain enrolment of DEMO_IDENTITIES, each
# signed by the admin of its org.
demo_enrol() {
  local entry id org roles admin roles_json
  for entry in "${DEMO_IDENTITIES[@]}"; do
    IFS='|' read -r id org roles <<<"$entry"
    demo_keygen "$id"
    admin=$(printf '%s\n' "${DEMO_ORGS[@]}" | awk -F'|' -v o="$org" '$1 == o {print $4}')
    roles_json=$(printf '"%s",' ${roles//,/ }); roles_json="[${roles_json%,}]"
    demo_tx identity.enrol "{\"id\":\"$id\",\"org\":\"$org\",\"roles\":$roles_json,\"public_key\":\"$("$CUSTOS" pubkey --key "$(demo_key "$id")")\"}" "$admin"
  done
}

# now_ms: the current time in milliseconds.
now_ms() { date +%s%3N; }

# demo_case: a small case that shows the custody chain: a phone seized by
# the police, handed to the forensic lab (co-signed), examined, and a disk
# image derived from it; the court is granted access.
demo_case() {
  local t; t=$(now_ms)
  demo_tx custody.open_case '{"case_id":"C-DEMO-1","reference":"JIT-2026-017","member_orgs":["europol","nfi-lab"]}' nl-police-inv-1
  demo_tx custody.grant_access '{"case_id":"C-DEMO-1","identity_id":"court-judge-1"}' nl-police-inv-1
  demo_tx custody.grant_access '{"case_id":"C-DEMO-1","identity_id":"court-clerk-1"}' nl-police-inv-1
  demo_tx custody.register "{\"case_id\":\"C-DEMO-1\",\"item_id\":\"E-DEMO-1\",\"kind\":\"physical\",\"description\":\"Mobile phone, black, cracked screen\",\"content_hash\":null,\"seal_numbers\":[\"NL-000101\"],\"location\":\"Evidence room Rotterdam\",\"seized_at_ms\":$((t - 60000)),\"place\":\"Rotterdam, search of premises\",\"legal_authority_ref\":\"RC-2026-4411\"}" nl-police-inv-1
  demo_tx custody.handover "{\"item_id\":\"E-DEMO-1\",\"to\":\"nfi-analyst-1\",\"purpose\":\"forensic extraction\",\"location\":\"NFI intake, The Hague\",\"seals_intact\":true,\"seal_numbers\":[\"NL-000101\"],\"condition\":\"as seized\",\"declared_at_ms\":$((t - 30000))}" nl-police-inv-1 nfi-analyst-1
  demo_tx custody.examine "{\"item_id\":\"E-DEMO-1\",\"method\":\"chip-off extraction\",\"findings_hash\":null,\"declared_at_ms\":$((t - 20000))}" nfi-analyst-1
  demo_tx custody.derive "{\"parent_id\":\"E-DEMO-1\",\"item_id\":\"E-DEMO-1-IMG\",\"kind\":\"digital\",\"description\":\"Full flash image of E-DEMO-1\",\"content_hash\":\"$(printf 'demo image' | sha256sum | cut -c1-64)\",\"declared_at_ms\":$((t - 10000))}" nfi-analyst-1
}
