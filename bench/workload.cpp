#include "bench/workload.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "bench/http.h"
#include "core/json.h"
#include "core/jwt.h"
#include "core/tx.h"
#include "wallet/keystore.h"

namespace custos::bench {
namespace {

namespace fs = std::filesystem;

// The demo network's orgs (scripts/demo-lib.sh): the lead org of the bench
// case and its member org, each with the admin that enrols bench identities.
constexpr const char* kLeadOrg = "nl-police";
constexpr const char* kLeadAdmin = "nl-police-admin";
constexpr const char* kMemberOrg = "nfi-lab";
constexpr const char* kMemberAdmin = "nfi-admin";
constexpr const char* kDefaultPassphrase = "custos-demo";
// The demo artefacts of scripts/run (docs/provenance.md §8), one per verdict.
const std::vector<std::string> kDemoArtefacts = {"A-DEMO-CLEAR", "A-DEMO-GAP", "A-DEMO-STOLEN"};
// Handover declared times advance 1 ms per handover from setup time, and stop
// advancing before the 300 000 ms a node accepts ahead of block time.
constexpr std::int64_t kDeclaredAdvanceMaxMs = 240'000;
constexpr std::size_t kFileBytesMax = 1 << 20;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(std::size_t bytes) {
  std::vector<std::uint8_t> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();
  return hex_encode(raw);
}

Result<Json> read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("bad_network_dir", path.string() + ": cannot be read");
  std::string text(kFileBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error("bad_network_dir", path.string() + ": not a JSON object");
  }
  return j;
}

Transaction new_tx(const std::string& network_id, const std::string& chaincode,
                   const std::string& function, Json args) {
  Transaction tx;
  tx.network_id = network_id;
  tx.chaincode = chaincode;
  tx.function = function;
  tx.args = std::move(args);
  tx.nonce = random_hex(16);
  tx.created_at_ms = now_ms();
  return tx;
}

// Signs in order (actor first) and returns the envelope's JSON text.
std::string signed_envelope(Transaction tx, std::initializer_list<const PrivateKey*> signers) {
  for (const PrivateKey* key : signers) {
    auto st = tx.sign(*key);
    if (!st) std::abort();  // fresh keys, at most two: cannot be refused
  }
  return tx.to_json().dump();
}

// Submits every envelope with ?wait=commit from `threads` connections, one
// per request or (batch > 1) up to `batch` per request; the first one not
// committed with OK is the error.
Status submit_all(const std::string& gateway, const std::vector<std::string>& envelopes,
                  int threads, int batch, double timeout_s, const std::string& what) {
  const std::size_t per_request = static_cast<std::size_t>(std::max(1, batch));
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::optional<Error> first_error;
  auto fail = [&](Error e) {
    std::lock_guard lock(mu);
    if (!first_error) first_error = std::move(e);
  };
  auto not_committed = [&](const std::string& kind, const std::string& detail) {
    return make_error("setup_failed",
                      what + " was not committed: " + kind + (detail.empty() ? "" : ": " + detail));
  };
  auto work = [&] {
    auto conn = Connection::open(gateway, timeout_s);
    if (!conn) return fail(conn.error());
    for (std::size_t i = next.fetch_add(per_request); i < envelopes.size();
         i = next.fetch_add(per_request)) {
      if (per_request == 1) {
        HttpAnswer a = (*conn)->submit_and_wait(envelopes[i]);
        if (!committed_ok(a)) {
          return fail(not_committed(failure_kind(a), a.status ? failure_detail(a) : ""));
        }
        continue;
      }
      std::vector<const std::string*> chunk;
      for (std::size_t j = i; j < std::min(envelopes.size(), i + per_request); ++j) {
        chunk.push_back(&envelopes[j]);
      }
      HttpAnswer a = (*conn)->submit_batch_and_wait(chunk);
      for (const BatchOutcome& outcome : batch_outcomes(a, chunk.size())) {
        if (outcome.kind != BatchOutcome::Kind::kCommitted) {
          return fail(not_committed(outcome.failure, a.status != 200 ? failure_detail(a) : ""));
        }
      }
    }
  };
  std::vector<std::thread> pool;
  std::size_t requests = (envelopes.size() + per_request - 1) / per_request;
  int n = std::max(1, std::min<int>(threads, static_cast<int>(requests)));
  for (int t = 0; t < n; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (first_error) return *first_error;
  return ok_status();
}

Result<PrivateKey> unlock_admin(const Network& network, const std::string& admin) {
  fs::path path = fs::path(network.dir) / "wallet" / (admin + ".key");
  auto ks = wallet::keystore_read_file(path);
  if (!ks) return make_error(ks.error().code, path.string() + ": " + ks.error().message);
  const char* env = std::getenv("CUSTOS_PASSPHRASE");
  std::string passphrase = env ? env : kDefaultPassphrase;
  auto key = wallet::keystore_decrypt(*ks, passphrase);
  if (!key) {
    return make_error(key.error().code, path.string() + ": " + key.error().message +
                                            " (passphrase from $CUSTOS_PASSPHRASE, default " +
                                            kDefaultPassphrase + ")");
  }
  return key;
}

}  // namespace

Result<Network> load_network(const std::string& dir) {
  Network net;
  net.dir = dir;
  if (!fs::is_directory(dir)) {
    return make_error("bad_network_dir", dir +
                                             " is not a folder (make one with ./scripts/run "
                                             "--detach --data " +
                                             dir + ")");
  }
  auto genesis = read_json(fs::path(dir) / "genesis.json");
  if (!genesis) return genesis.error();
  if (!genesis->contains("network_id") || !(*genesis)["network_id"].is_string()) {
    return make_error("bad_network_dir", dir + "/genesis.json has no network_id");
  }
  net.network_id = (*genesis)["network_id"].get<std::string>();

  static const std::regex node_file(R"(node([0-9]+)\.json)");
  std::vector<std::pair<int, fs::path>> configs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, node_file)) configs.emplace_back(std::stoi(m[1]), entry.path());
  }
  std::sort(configs.begin(), configs.end());
  for (const auto& [n, path] : configs) {
    auto config = read_json(path);
    if (!config) return config.error();
    const Json& c = *config;
    if (!c.contains("listen") || !c["listen"].contains("port") ||
        !c["listen"]["port"].is_number_integer()) {
      return make_error("bad_network_dir", path.string() + " has no listen.port");
    }
    std::string host = c["listen"].value("host", "127.0.0.1");
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    net.gateways.push_back("http://" + host + ":" + std::to_string(c["listen"]["port"].get<int>()));
    if (c.contains("http") && c["http"].contains("threads") &&
        c["http"]["threads"].is_number_integer()) {
      int t = c["http"]["threads"].get<int>();
      net.http_threads = net.http_threads == 0 ? t : std::min(net.http_threads, t);
    }
  }
  net.nodes = static_cast<int>(configs.size());
  if (net.nodes == 0) return make_error("bad_network_dir", dir + " has no nodeN.json");
  return net;
}

Result<Workload> prepare_workload(const Network& network, const WorkloadOptions& o) {
  Workload w;
  w.run_id = random_hex(4);
  const std::string& nid = network.network_id;
  auto lead_admin = unlock_admin(network, kLeadAdmin);
  if (!lead_admin) return lead_admin.error();
  auto member_admin = unlock_admin(network, kMemberAdmin);
  if (!member_admin) return member_admin.error();
  w.admin_identity = kLeadAdmin;
  w.admin_key = PrivateKey::from_bytes(lead_admin->secret()).value();

  // 1. Identity pairs.
  std::vector<PrivateKey> pol_keys, lab_keys;
  std::vector<std::string> pol_ids, lab_ids, enrolments;
  for (int i = 0; i < o.pairs; ++i) {
    pol_ids.push_back("bench-" + w.run_id + "-pol-" + std::to_string(i));
    lab_ids.push_back("bench-" + w.run_id + "-lab-" + std::to_string(i));
    pol_keys.push_back(PrivateKey::generate());
    lab_keys.push_back(PrivateKey::generate());
    enrolments.push_back(
        signed_envelope(new_tx(nid, "identity", "enrol",
                               {{"id", pol_ids.back()},
                                {"org", kLeadOrg},
                                {"roles", Json::array({"custodian", "investigator"})},
                                {"public_key", pol_keys.back().public_key().hex()}}),
                        {&*lead_admin}));
    enrolments.push_back(
        signed_envelope(new_tx(nid, "identity", "enrol",
                               {{"id", lab_ids.back()},
                                {"org", kMemberOrg},
                                {"roles", Json::array({"custodian"})},
                                {"public_key", lab_keys.back().public_key().hex()}}),
                        {&*member_admin}));
  }
  w.identities = 2 * o.pairs;
  std::cerr << "setup: run " << w.run_id << ", enrolling " << w.identities << " identities\n";
  if (auto st = submit_all(o.gateway, enrolments, o.threads, o.batch, o.timeout_s, "an enrolment");
      !st) {
    return st.error();
  }

  // 2. The case.
  const std::string case_id = "C-BENCH-" + w.run_id;
  std::string open_case = signed_envelope(new_tx(nid, "custody", "open_case",
                                                 {{"case_id", case_id},
                                                  {"reference", "custos-bench run " + w.run_id},
                                                  {"member_orgs", Json::array({kMemberOrg})}}),
                                          {&pol_keys[0]});
  if (auto st = submit_all(o.gateway, {open_case}, 1, 1, o.timeout_s, "open_case"); !st) {
    return st.error();
  }

  // 3. Items, spread over the pairs.
  const std::int64_t t0 = now_ms();
  std::vector<std::string> registrations;
  std::vector<int> pair_of;
  w.per_worker.resize(static_cast<std::size_t>(o.workers));
  for (int wk = 0; wk < o.workers; ++wk) {
    for (int j = 0; j < o.items_per_worker; ++j) {
      int pair = (wk * o.items_per_worker + j) % o.pairs;
      std::string id = "E-BENCH-" + w.run_id + "-" + std::to_string(wk) + "-" + std::to_string(j);
      w.per_worker[wk].push_back(ItemLoad{id, {}});
      w.item_ids.push_back(id);
      pair_of.push_back(pair);
      registrations.push_back(
          signed_envelope(new_tx(nid, "custody", "register",
                                 {{"case_id", case_id},
                                  {"item_id", id},
                                  {"kind", "physical"},
                                  {"description", "bench item"},
                                  {"content_hash", nullptr},
                                  {"seal_numbers", Json::array({"BENCH-1"})},
                                  {"location", "bench evidence room"},
                                  {"seized_at_ms", t0 - 60'000},
                                  {"place", "custos-bench"},
                                  {"legal_authority_ref", "BENCH-" + w.run_id}}),
                          {&pol_keys[pair]}));
    }
  }
  std::cerr << "setup: case " << case_id << ", registering " << registrations.size() << " items\n";
  if (auto st =
          submit_all(o.gateway, registrations, o.threads, o.batch, o.timeout_s, "a registration");
      !st) {
    return st.error();
  }

  // The item history reads read: N events, committed one by one (each
  // handover needs the one before it).
  if (o.history_events > 0) {
    w.history_item = "E-BENCH-" + w.run_id + "-H";
    std::vector<std::string> chain{
        signed_envelope(new_tx(nid, "custody", "register",
                               {{"case_id", case_id},
                                {"item_id", w.history_item},
                                {"kind", "physical"},
                                {"description", "bench item read for its history"},
                                {"content_hash", nullptr},
                                {"seal_numbers", Json::array({"BENCH-H"})},
                                {"location", "bench evidence room"},
                                {"seized_at_ms", t0 - 60'000},
                                {"place", "custos-bench"},
                                {"legal_authority_ref", "BENCH-" + w.run_id}}),
                        {&pol_keys[0]})};
    for (int k = 1; k < o.history_events; ++k) {
      bool from_pol = k % 2 == 1;
      Transaction tx = new_tx(nid, "custody", "handover",
                              {{"item_id", w.history_item},
                               {"to", from_pol ? lab_ids[0] : pol_ids[0]},
                               {"purpose", "history length"},
                               {"location", from_pol ? "lab intake" : "bench evidence room"},
                               {"seals_intact", true},
                               {"seal_numbers", Json::array({"BENCH-H"})},
                               {"condition", "as seized"},
                               {"declared_at_ms", t0}});
      chain.push_back(from_pol ? signed_envelope(std::move(tx), {&pol_keys[0], &lab_keys[0]})
                               : signed_envelope(std::move(tx), {&lab_keys[0], &pol_keys[0]}));
    }
    std::cerr << "setup: item " << w.history_item << " with " << o.history_events
              << " events for the history reads\n";
    for (const std::string& tx : chain) {
      if (auto st = submit_all(o.gateway, {tx}, 1, 1, o.timeout_s, "a history item event"); !st) {
        return st.error();
      }
    }
  }

  // Reads: a police identity of the case reads history and verdicts.
  w.reader_identity = pol_ids[0];
  w.reader_key = PrivateKey::from_bytes(pol_keys[0].secret()).value();
  {
    auto conn = Connection::open(o.gateway, o.timeout_s);
    if (!conn) return conn.error();
    std::string token = read_token(w, nid, 60);
    for (const std::string& a : kDemoArtefacts) {
      HttpAnswer ans = (*conn)->get("/v1/artefacts/" + a + "/verify", token);
      if (ans.status == 200) w.artefacts.push_back(a);
    }
    HttpAnswer h = (*conn)->get("/v1/evidence/" + w.item_ids[0] + "/history", token);
    if (h.status != 200) {
      return make_error("setup_failed", "reading an item's history failed: " + failure_kind(h) +
                                            (h.status ? ": " + failure_detail(h) : ""));
    }
  }
  if (w.artefacts.empty()) {
    std::cerr << "setup: no demo artefacts (A-DEMO-*) on this network: no verify reads\n";
  }

  // 4. Sign the handovers: item i alternates pol -> lab -> pol ...
  const std::size_t items = w.item_ids.size();
  const std::size_t per_item = (o.handovers + items - 1) / items;
  std::vector<ItemLoad*> all;
  for (auto& wl : w.per_worker) {
    for (auto& item : wl) all.push_back(&item);
  }
  std::cerr << "setup: signing " << per_item * items << " handovers (" << per_item
            << " per item) on " << o.threads << " threads\n";
  std::atomic<std::size_t> next{0};
  auto sign_items = [&] {
    for (std::size_t i = next++; i < items; i = next++) {
      const PrivateKey* pol = &pol_keys[pair_of[i]];
      const PrivateKey* lab = &lab_keys[pair_of[i]];
      const std::string& pol_id = pol_ids[pair_of[i]];
      const std::string& lab_id = lab_ids[pair_of[i]];
      auto& out = all[i]->handovers;
      out.reserve(per_item);
      for (std::size_t k = 0; k < per_item; ++k) {
        bool from_pol = k % 2 == 0;
        auto advance = std::min<std::int64_t>(static_cast<std::int64_t>(k), kDeclaredAdvanceMaxMs);
        Transaction tx = new_tx(nid, "custody", "handover",
                                {{"item_id", all[i]->id},
                                 {"to", from_pol ? lab_id : pol_id},
                                 {"purpose", from_pol ? "examination" : "return to storage"},
                                 {"location", from_pol ? "lab intake" : "bench evidence room"},
                                 {"seals_intact", true},
                                 {"seal_numbers", Json::array({"BENCH-1"})},
                                 {"condition", "as seized"},
                                 {"declared_at_ms", t0 + advance}});
        out.push_back(from_pol ? signed_envelope(std::move(tx), {pol, lab})
                               : signed_envelope(std::move(tx), {lab, pol}));
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, o.threads); ++t) pool.emplace_back(sign_items);
  for (auto& t : pool) t.join();
  w.handovers = per_item * items;
  return w;
}

std::string read_token(const Workload& workload, const std::string& network_id, std::int64_t ttl_s,
                       bool as_admin) {
  std::int64_t now_s = now_ms() / 1000;
  return jwt_mint(as_admin ? *workload.admin_key : *workload.reader_key,
                  JwtClaims{as_admin ? workload.admin_identity : workload.reader_identity,
                            network_id, now_s, now_s + ttl_s});
}

Result<TxSample> sample_committed_txs(const Workload& workload, const std::string& network_id,
                                      const std::string& gateway, std::size_t blocks,
                                      std::size_t picks, double timeout_s) {
  auto conn = Connection::open(gateway, timeout_s);
  if (!conn) return conn.error();
  const std::string token = read_token(workload, network_id, 60, true);
  auto get_json = [&](const std::string& path) -> Result<Json> {
    HttpAnswer a = (*conn)->get(path, token);
    if (a.status != 200) {
      return make_error("setup_failed", "GET " + path + ": " + failure_kind(a) +
                                            (a.status ? ": " + failure_detail(a) : ""));
    }
    auto j = parse_json_strict(a.body);
    if (!j) return make_error("setup_failed", "GET " + path + ": " + j.error().message);
    return j;
  };
  auto head = get_json("/v1/chain/head");
  if (!head) return head.error();
  auto count = [](const Json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0; };
  if (!count((*head)["height"]) || !count((*head)["log_size"])) {
    return make_error("setup_failed", "GET /v1/chain/head: no height or log_size");
  }
  const auto height = (*head)["height"].get<std::uint64_t>();
  TxSample sample;
  sample.ledger_txs = (*head)["log_size"].get<std::uint64_t>();
  if (height == 0) return make_error("setup_failed", "no block after genesis to read from");
  std::mt19937_64 rng(std::random_device{}());
  std::set<std::uint64_t> heights;
  while (heights.size() < std::min<std::uint64_t>(blocks, height)) {
    heights.insert(std::uniform_int_distribution<std::uint64_t>(1, height)(rng));
  }
  // Each pick is a random transaction of the blocks read (a block is picked
  // in proportion to its transactions), not a random block: a ledger whose
  // blocks differ in size (small setup blocks, full blocks under load) is
  // read as its transactions are spread, at any size of ledger.
  std::vector<std::vector<std::string>> ids_by_block;
  std::vector<double> weights;
  for (std::uint64_t h : heights) {
    auto block = get_json("/v1/blocks/" + std::to_string(h));
    if (!block) return block.error();
    const Json& results = (*block)["results"];
    if (!results.is_array() || results.empty()) continue;
    std::vector<std::string> ids;
    for (const Json& r : results) {
      if (!r.is_object() || !r.contains("tx_id") || !r["tx_id"].is_string()) {
        return make_error("setup_failed", "block " + std::to_string(h) + ": a result has no tx_id");
      }
      ids.push_back(r["tx_id"].get<std::string>());
    }
    weights.push_back(static_cast<double>(ids.size()));
    ids_by_block.push_back(std::move(ids));
  }
  if (ids_by_block.empty()) return make_error("setup_failed", "no committed transaction found");
  std::discrete_distribution<std::size_t> pick_block(weights.begin(), weights.end());
  double txs = 0;
  for (std::size_t i = 0; i < picks; ++i) {
    const auto& ids = ids_by_block[pick_block(rng)];
    txs += static_cast<double>(ids.size());
    sample.ids.push_back(ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(rng)]);
  }
  sample.mean_block_txs = txs / static_cast<double>(sample.ids.size());
  return sample;
}

}  // namespace custos::bench
