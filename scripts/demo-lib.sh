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

# demo_wait_ready URL [SECONDS] [N]: waits for /readyz; with N, stops at once
# with the end of DEMO_DIR/nodeN.log if that node's process has exited.
demo_wait_ready() {
  local url=$1 deadline=$((SECONDS + ${2:-30})) n=${3:-}
  until curl -fsS "$url/readyz" >/dev/null 2>&1; do
    if [ -n "$n" ] && ! kill -0 "$(cat "$DEMO_DIR/node$n.pid")" 2>/dev/null; then
      tail -n 5 "$DEMO_DIR/node$n.log" >&2
      if grep -q "holds ledger format" "$DEMO_DIR/node$n.log"; then
        die "node$n's data in $DEMO_DIR was written by an older Custos; remove $DEMO_DIR and run again"
      fi
      die "node$n exited (log: $DEMO_DIR/node$n.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "node at $url not ready after ${2:-30} s"
    sleep 0.2
  done
}

# demo_wait_leader URL [SECONDS]: waits until the node knows a leader.
demo_wait_leader() {
  local url=$1 deadline=$((SECONDS + ${2:-30}))
  until [ "$(curl -fsS "$url/healthz" 2>/dev/null | jq -r '.leader // empty')" != "" ]; do
    [ $SECONDS -lt $deadline ] || die "no leader elected after ${2:-30} s (see the node logs)"
    sleep 0.2
  done
}

# demo_free_port: prints a TCP port on 127.0.0.1 that is free right now,
# below the kernel's ephemeral range: a port there may be the local end of
# some connection (nothing answers on it, yet listening on it fails).
demo_free_port() {
  local port low=32768 high
  read -r low high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 12000 ] || low=32768  # an unusual range: fall back to the default's floor
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# demo_node_config N PORT: writes DEMO_DIR/nodeN.json for a single node
# that orders alone (no Raft section).
demo_node_config() {
  cat > "$DEMO_DIR/node$1.json" <<JSON
{
  "node_id": "node$1",
  "data_dir": "node$1",
  "genesis_file": "genesis.json",
  "key_file": "node$1.key",
  "listen": {"host": "127.0.0.1", "port": $2},
  "block": {"txs_max": 500, "bytes_max": 4194304, "wait_ms_max": 5},
  "mempool": {"txs_max": 20000, "bytes_max": 67108864},
  "http": {"threads": 64, "body_bytes_max": 131072, "commit_wait_ms_max": 10000}
}
JSON
}

# demo_network_configs NODES: writes DEMO_DIR/node1.json .. nodeNODES.json
# from the ready network in network-configs/ (1, 3 or 5 nodes, Raft with
# mutual TLS), with free ports in place of the fixed ones, and the nodes'
# certificates in DEMO_DIR/certs (scripts/make-certs).
demo_network_configs() {
  local nodes=$1 template n
  case "$nodes" in
    1) template="$CUSTOS_ROOT/network-configs/1-node" ;;
    3|5) template="$CUSTOS_ROOT/network-configs/$nodes-nodes" ;;
    *) die "ready networks have 1, 3 or 5 nodes (network-configs/); not $nodes" ;;
  esac
  local ids=() ports=() used=" " p1 p2
  for n in $(seq 1 "$nodes"); do
    ids+=("$n")
    # Two distinct free ports per node: its gateway, then its Raft transport.
    for _ in $(seq 1 20); do
      p1=$(demo_free_port); p2=$(demo_free_port)
      [ "$p1" != "$p2" ] && [[ "$used" != *" $p1 "* ]] && [[ "$used" != *" $p2 "* ]] && break
    done
    used+="$p1 $p2 "
    ports+=("$p1 $p2")
  done
  "$CUSTOS_ROOT/scripts/make-certs" "$DEMO_DIR/certs" "${ids[@]}" >/dev/null \
    || die "making the node certificates failed"
  # peers: [{"id": 1, ..., "port": RAFT_PORT_1}, ...] with this run's ports.
  local raft_ports
  raft_ports=$(for p in "${ports[@]}"; do echo "${p#* }"; done | jq -s -c .)
  for n in $(seq 1 "$nodes"); do
    local gw=${ports[$((n - 1))]%% *}
    jq --argjson gw "$gw" --argjson rp "$raft_ports" '
      .data_dir = ("node" + (.raft.id | tostring))
      | .listen.port = $gw
      | .raft.peers |= [ .[] | .port = $rp[.id - 1] ]' \
      "$template/node$n.json" > "$DEMO_DIR/node$n.json" || die "writing node$n.json failed"
  done
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
  "rijksmuseum|museum|National Museum (demo)|museum-admin"
  "art-dealers|dealer|Art Dealers Association (demo)|dealers-admin"
  "fiu-nl|fiu|FIU Netherlands (demo)|fiu-admin"
  "remit-nl|transfer_agent|Remittance agents NL (demo)|remit-admin"
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
  "museum-registrar-1|rijksmuseum|museum_registrar"
  "dealer-1|art-dealers|dealer"
  "fiu-analyst-1|fiu-nl|fiu_analyst"
  "agent-ams-1|remit-nl|transfer_agent"
  "agent-rtm-1|remit-nl|transfer_agent"
)

# demo_genesis NODES: keystores for the org admins, a head-signing key file
# DEMO_DIR/nodeN.key for each node (kept if it exists), then genesis.json.
demo_genesis() {
  local nodes=$1 entry args=() id kind name admin
  for entry in "${DEMO_ORGS[@]}"; do
    IFS='|' read -r id kind name admin <<<"$entry"
    demo_keygen "$admin"
    args+=(--org "$id,$kind,$name" --admin "$id,$admin,$(demo_key "$admin")")
  done
  local n
  for n in $(seq 1 "$nodes"); do
    if [ ! -f "$DEMO_DIR/node$n.key" ]; then
      "$CUSTOS" node-key --out "$DEMO_DIR/node$n.key" >/dev/null 2>&1 \
        || die "making node$n's key failed"
    fi
    args+=(--node "node$n,nl-police,$DEMO_DIR/node$n.key")
  done
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

# demo_artefacts: three artefacts for the customs verdict (docs/provenance.md
# section 8): a lamp with a licensed export and import (CLEAR), a sculpture
# documented only since 1985 (REVIEW), a painting reported stolen (ALERT).
demo_artefacts() {
  demo_tx provenance.register '{"artefact_id":"A-DEMO-CLEAR","type_of_object":"oil lamp","materials_and_techniques":"terracotta, mould-made, red slip","measurements":"length 9.5 cm, width 6.8 cm, height 2.9 cm","description":"Roman discus lamp, gladiator on the discus, nozzle chipped","photo_hashes":["00102f3bc95181ef822f2a9adf54b8468a2d7f3975e591d21694e069b02a81d2"],"date_or_period":"2nd century AD","dated_year_max":200,"category":"c","origin_country":"IL","holder":{"identity":"dealer-1"},"held_since":"2019-06","document_hash":"6b25aa82889fc63bdd252a0def0a345152307f12231596d063853c1634f0775e"}' dealer-1
  demo_tx provenance.export_licence '{"artefact_id":"A-DEMO-CLEAR","date":"2019-05-14","issuing_country":"IL","authority":"Israel Antiquities Authority","licence_ref":"IAA-EXP-2019-0417","document_hash":"6b829c5fd5edde0f2674b8ed8bd2bb897da2a08772230d3d97fc6df0ad4ed9f4"}' dealer-1
  demo_tx provenance.import '{"artefact_id":"A-DEMO-CLEAR","date":"2025-11-28","importer":{"identity":"dealer-1"},"customs_office":"NL000396 Schiphol","country_of_dispatch":"IL","declared_value_eur_cents":240000,"import_licence_ref":"ICG-IL-NL-2025-000311"}' customs-officer-1
  demo_tx provenance.transfer '{"artefact_id":"A-DEMO-CLEAR","date":"2025-11-29","seller":{"identity":"dealer-1"},"buyer":{"identity":"museum-registrar-1"},"document_hash":"b2644ecaf82d221f7f403d195cb07ad271dc072f273f6b5e3307fba6e932ce2e"}' dealer-1 museum-registrar-1
  demo_tx provenance.register '{"artefact_id":"A-DEMO-GAP","type_of_object":"sculpture, head","materials_and_techniques":"sandstone, carved","measurements":"height 31 cm","description":"head of a deity with a conical chignon, broken at the neck","photo_hashes":["c464838bce94ae094b6ff7fd03d84616795e3d16c3032e7ec420119decbd4236"],"date_or_period":"Angkor period, 12th century","dated_year_max":1200,"category":"d","origin_country":"KH","holder":{"commitment":"bc3b7eff79007aa8c6ec64e8b78b2414ade035d964b1559573cbeb4f444a38cc"},"held_since":"1985","document_hash":"94c869e339f5cecb6fa23f3d0574dc88a925514a1ed0ffda57a4bfc29cd3eb3a"}' dealer-1
  demo_tx provenance.register '{"artefact_id":"A-DEMO-STOLEN","type_of_object":"painting","materials_and_techniques":"oil on canvas","measurements":"65 x 81 cm (unframed)","description":"river landscape with a ferry at dusk","photo_hashes":["66fbf8ed0110dc15fe32e7d28b84b7b08a0ec267c82345dcc841bc4b1b615db5"],"date_or_period":"c. 1890","dated_year_max":1890,"category":"g","origin_country":"FR","holder":{"identity":"museum-registrar-1"},"title":"Le bac au crepuscule","held_since":"1952-03-01"}' museum-registrar-1
  demo_tx provenance.theft_report '{"artefact_id":"A-DEMO-STOLEN","date":"2025-11-20","interpol_ref":"INTERPOL SWA 2025/11873"}' nl-police-inv-1
}

# demo_transfers: two registered agents, a transfer paid out with its pickup
# code (docs/funds.md section 10), so that positions exist.
demo_transfers() {
  demo_tx funds.register_agent '{"agent_id":"agent-ams-1","licence_ref":"DNB-PSP-2026-001"}' remit-admin
  demo_tx funds.register_agent '{"agent_id":"agent-rtm-1","licence_ref":"DNB-PSP-2026-002"}' remit-admin
  local code='PICKUP-T-DEMO-1-93kq'
  demo_tx funds.send "{\"transfer_id\":\"T-DEMO-1\",\"paying_agent\":\"agent-rtm-1\",\"originator_commitment\":\"$(printf 'salt-7f3a|cust-1' | sha256sum | cut -c1-64)\",\"beneficiary_commitment\":\"$(printf 'salt-7f3a|cust-2' | sha256sum | cut -c1-64)\",\"amount_minor\":25000,\"currency\":\"EUR\",\"purpose\":\"family support\",\"pickup_code_hash\":\"$(printf '%s' "$code" | sha256sum | cut -c1-64)\",\"r16\":null}" agent-ams-1
  demo_tx funds.payout "{\"transfer_id\":\"T-DEMO-1\",\"pickup_code\":\"$code\"}" agent-rtm-1
}
