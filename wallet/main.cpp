// custos: the command-line client. Keys, genesis documents, transactions,
// signature checks, read tokens, submission and reads through a gateway, and
// offline verification of court bundles.
//
// Exit codes: 0 success, 1 failure (an error, or a signature that does not
// verify), 2 usage error. Errors go to stderr as "custos: error: ...".
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/genesis.h"
#include "core/jwt.h"
#include "core/node_key.h"
#include "core/tx.h"
#include "wallet/bundle_cmd.h"
#include "wallet/files.h"
#include "wallet/http_client.h"
#include "wallet/keystore.h"
#include "wallet/passphrase.h"

namespace custos::wallet {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kArgsBytesMax = kTxBytesMax;
constexpr const char* kDefaultNetwork = "custos-demo";
constexpr std::int64_t kTokenTtlDefaultS = 300;
// A gateway answers a plain request at once; with ?wait=commit it holds the
// request until the block commits, so the read timeout is longer there.
constexpr HttpTimeouts kGatewayTimeouts{.connect_ms = 5'000, .read_ms = 15'000, .write_ms = 10'000};
constexpr HttpTimeouts kGatewayWaitTimeouts{
    .connect_ms = 5'000, .read_ms = 35'000, .write_ms = 10'000};
// How much of a non-JSON error body to quote back (a proxy's HTML page, say).
constexpr std::size_t kErrorBodyQuoteBytesMax = 300;

// Thrown inside command handlers to leave with a message and an exit code;
// caught once in main. Never crosses a library boundary.
struct Exit {
  int code;
  std::string message;
};

[[noreturn]] void fail(const Error& e, int code = kExitFailure) {
  throw Exit{code, e.message};
}

template <typename T>
T take(Result<T> r, int code = kExitFailure) {
  if (!r) fail(r.error(), code);
  return std::move(r).value();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_iso8601(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

PrivateKey unlock_key(const std::string& key_path) {
  Json ks = take(keystore_read_file(key_path));
  auto pub = take(keystore_public_key(ks));
  std::string passphrase =
      take(obtain_passphrase("Passphrase for " + key_path + " (" + pub.hex() + "): ", false));
  auto key = keystore_decrypt(ks, passphrase);
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  if (!key) fail(make_error(key.error().code, key_path + ": " + key.error().message));
  return std::move(key).value();
}

Transaction read_tx(const std::string& path) {
  std::string text = take(read_file_bounded(path, kTxBytesMax + 1));
  auto tx = tx_parse(text);
  if (!tx) fail(make_error(tx.error().code, path + ": " + tx.error().message));
  return std::move(tx).value();
}

std::string tx_text(const Transaction& tx) {
  return tx.to_json().dump(2) + "\n";
}

void cmd_keygen(const std::string& out) {
  std::string passphrase = take(obtain_passphrase("New passphrase for " + out + ": ", true));
  PrivateKey key = PrivateKey::generate();
  Json ks = take(keystore_encrypt(key, passphrase));
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  take(keystore_write_file(out, ks));
  std::cout << key.public_key().hex() << "\n";
}

void cmd_pubkey(const std::string& key_path) {
  Json ks = take(keystore_read_file(key_path));
  std::cout << take(keystore_public_key(ks)).hex() << "\n";
}

void cmd_tx_new(const std::string& call, const std::string& args_path, std::string network,
                std::optional<std::string> nonce, std::optional<std::int64_t> created_at_ms,
                const std::string& out) {
  auto dot = call.find('.');
  if (dot == std::string::npos) {
    fail(make_error("usage", "expected CHAINCODE.FUNCTION, e.g. custody.handover"), kExitUsage);
  }
  std::string args_text = take(read_file_bounded(args_path, kArgsBytesMax));
  Json args = take(parse_json_strict(args_text));

  if (!nonce) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) std::abort();
    nonce = hex_encode(raw);
  }
  if (!created_at_ms) created_at_ms = now_ms();
  // Build through the same validation a node applies, so a tx that `tx new`
  // prints is one a node would accept as well-formed.
  Json envelope = {{"network_id", network},
                   {"chaincode", call.substr(0, dot)},
                   {"function", call.substr(dot + 1)},
                   {"args", args},
                   {"nonce", *nonce},
                   {"created_at_ms", *created_at_ms},
                   {"signatures", Json::array()}};
  Transaction tx = take(tx_from_json(envelope));
  if (out == "-") {
    std::cout << tx_text(tx);
  } else {
    take(write_file_atomic(out, tx_text(tx), 0644, Overwrite::kRefuse));
    std::cerr << "wrote " << out << " (tx id " << tx.id().hex() << ")\n";
  }
}

void cmd_tx_sign(const std::string& tx_path, const std::string& key_path, std::string out) {
  Transaction tx = read_tx(tx_path);
  // Refuse a second signature before asking for a passphrase: the public key
  // is in clear in the keystore.
  if (tx.signer_index(take(keystore_public_key(take(keystore_read_file(key_path)))))) {
    fail(make_error("already_signed", "this key has already signed the transaction"));
  }
  PrivateKey key = unlock_key(key_path);
  take(tx.sign(key));
  if (out.empty()) out = tx_path;
  if (out == "-") {
    std::cout << tx_text(tx);
  } else {
    take(write_file_atomic(out, tx_text(tx), 0644, Overwrite::kReplace));
  }
  std::cerr << "signed " << tx.id().hex() << " as " << key.public_key().hex() << " ("
            << tx.signatures.size() << " signature" << (tx.signatures.size() == 1 ? "" : "s")
            << ")\n";
}

int cmd_tx_show(const std::string& tx_path, bool as_json) {
  Transaction tx = read_tx(tx_path);
  auto valid = tx.verify_signatures();
  bool all_valid = !valid.empty();
  for (bool v : valid) all_valid = all_valid && v;

  if (as_json) {
    Json sigs = Json::array();
    for (std::size_t i = 0; i < valid.size(); ++i) {
      sigs.push_back(
          {{"public_key", tx.signatures[i].public_key.hex()}, {"valid", bool(valid[i])}});
    }
    Json body = tx.to_json();
    body.erase("signatures");
    std::cout << Json{{"tx_id", tx.id().hex()}, {"body", body}, {"signatures", sigs}}.dump(2)
              << "\n";
  } else {
    std::cout << "tx id:       " << tx.id().hex() << "\n"
              << "network:     " << tx.network_id << "\n"
              << "call:        " << tx.chaincode << "." << tx.function << "\n"
              << "created at:  " << utc_iso8601(tx.created_at_ms) << " (" << tx.created_at_ms
              << " ms, declared by the client)\n"
              << "nonce:       " << tx.nonce << "\n"
              << "args:        " << tx.args.dump(2) << "\n"
              << "signatures:  " << tx.signatures.size() << "\n";
    for (std::size_t i = 0; i < valid.size(); ++i) {
      std::cout << "  [" << i << "] " << tx.signatures[i].public_key.hex() << "  "
                << (valid[i] ? "valid" : "INVALID") << "\n";
    }
  }
  return all_valid ? kExitOk : kExitFailure;
}

int cmd_verify_signature(const std::string& pubkey_hex, const std::string& message_hex,
                         const std::string& signature_hex) {
  PublicKey key = take(PublicKey::from_hex(pubkey_hex), kExitUsage);
  auto message = hex_decode(message_hex);
  if (!message) fail(make_error("usage", "--message-hex: " + message.error().message), kExitUsage);
  // A signature that is not even hex is a malformed signature: it does not
  // verify (exit 1), as the Wycheproof rules expect, rather than a usage error.
  auto signature = hex_decode(signature_hex);
  bool ok = signature && verify_any(key, *message, *signature);
  std::cout << (ok ? "valid" : "invalid") << "\n";
  return ok ? kExitOk : kExitFailure;
}

[[noreturn]] void usage(const std::string& message) {
  fail(make_error("usage", message), kExitUsage);
}

// Splits `arg` at its first (fields - 1) commas, so the last field may hold
// commas itself (an org's display name, a key file's path).
std::vector<std::string> split_fields(const std::string& option, const std::string& arg,
                                      std::size_t fields, const char* form) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < fields; ++i) {
    auto comma = arg.find(',', start);
    if (comma == std::string::npos) {
      std::ostringstream m;
      m << option << " \"" << arg << "\": expected " << form;
      usage(m.str());
    }
    out.push_back(arg.substr(start, comma - start));
    start = comma + 1;
  }
  out.push_back(arg.substr(start));
  return out;
}

bool is_public_key_hex(const std::string& s) {
  return s.size() == 66 && s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

// KEY of an --admin: a compressed public key in hex, or a keystore file whose
// clear-text public key is used (no passphrase needed).
PublicKey admin_public_key(const std::string& admin_arg, const std::string& key) {
  auto fail_with = [&](const Error& e) {
    std::ostringstream m;
    m << "--admin \"" << admin_arg << "\": " << e.message;
    fail(make_error(e.code, m.str()));
  };
  if (is_public_key_hex(key)) {
    auto pub = PublicKey::from_hex(key);
    if (!pub) fail_with(pub.error());
    return *pub;
  }
  auto ks = keystore_read_file(key);
  if (!ks) fail_with(ks.error());
  auto pub = keystore_public_key(*ks);
  if (!pub) fail_with(pub.error());
  return *pub;
}

// KEY of a --node: a compressed public key in hex, or a node key file
// (custos node-key) whose public key is used.
PublicKey node_public_key(const std::string& node_arg, const std::string& key) {
  auto fail_with = [&](const Error& e) {
    std::ostringstream m;
    m << "--node \"" << node_arg << "\": " << e.message;
    fail(make_error(e.code, m.str()));
  };
  if (is_public_key_hex(key)) {
    auto pub = PublicKey::from_hex(key);
    if (!pub) fail_with(pub.error());
    return *pub;
  }
  auto text = read_file_bounded(key, kNodeKeyFileBytesMax);
  if (!text) fail_with(text.error());
  auto secret = node_key_from_text(*text);
  if (!secret) fail_with(secret.error());
  return secret->public_key();
}

// custos node-key --out FILE: a new node signing key, mode 0600, never
// overwritten; prints its public key for the genesis file or add_node.
void cmd_node_key(const std::string& out) {
  PrivateKey key = PrivateKey::generate();
  std::string text = node_key_file_text(key);
  auto written = write_file_atomic(out, text, 0600, Overwrite::kRefuse);
  OPENSSL_cleanse(text.data(), text.size());
  take(std::move(written));
  std::cout << key.public_key().hex() << "\n";
  std::cerr << "wrote node key " << out << " (mode 0600)\n";
}

struct GenesisOptions {
  std::string network;
  std::vector<std::string> orgs, admins, nodes;
  std::optional<std::int64_t> created_at_ms;
  std::string config_file;
  std::string out;
};

void cmd_genesis(const GenesisOptions& o) {
  // Parse every option before reading any key file, so that a typo is
  // reported as a usage error whatever its position.
  std::vector<std::vector<std::string>> orgs, admins, nodes;
  for (const auto& a : o.orgs) orgs.push_back(split_fields("--org", a, 3, "ID,KIND,NAME"));
  for (const auto& a : o.admins) {
    admins.push_back(split_fields("--admin", a, 3, "ORG,IDENTITY_ID,KEY"));
  }
  for (const auto& a : o.nodes) nodes.push_back(split_fields("--node", a, 3, "NODE_ID,ORG,KEY"));

  Json orgs_json = Json::array();
  std::map<std::string, std::size_t> org_index;  // first --org of each id
  for (const auto& f : orgs) {
    if (!is_org_kind(f[1])) {
      std::ostringstream m;
      m << "--org " << f[0] << ": unknown kind \"" << f[1] << "\"; kinds are";
      for (auto k : kOrgKinds) m << " " << k;
      fail(make_error("bad_genesis", m.str()));
    }
    if (!org_index.emplace(f[0], orgs_json.size()).second) {
      fail(make_error("bad_genesis", "--org: org id \"" + f[0] + "\" is given twice"));
    }
    orgs_json.push_back({{"id", f[0]}, {"kind", f[1]}, {"name", f[2]}, {"admins", Json::array()}});
  }
  for (std::size_t i = 0; i < admins.size(); ++i) {
    const auto& f = admins[i];
    auto org = org_index.find(f[0]);
    if (org == org_index.end()) {
      std::ostringstream m;
      m << "--admin \"" << o.admins[i] << "\": org \"" << f[0] << "\" is not given with --org";
      fail(make_error("bad_genesis", m.str()));
    }
    PublicKey key = admin_public_key(o.admins[i], f[2]);
    orgs_json[org->second]["admins"].push_back({{"id", f[1]}, {"public_key", key.hex()}});
  }
  for (const auto& org : orgs_json) {
    if (org["admins"].empty()) {
      std::ostringstream m;
      m << "org \"" << org["id"].get<std::string>()
        << "\" has no admin; give one with --admin ORG,IDENTITY_ID,KEY";
      fail(make_error("bad_genesis", m.str()));
    }
  }
  Json nodes_json = Json::array();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!org_index.contains(nodes[i][1])) {
      std::ostringstream m;
      m << "--node \"" << o.nodes[i] << "\": org \"" << nodes[i][1] << "\" is not given with --org";
      fail(make_error("bad_genesis", m.str()));
    }
    PublicKey key = node_public_key(o.nodes[i], nodes[i][2]);
    nodes_json.push_back({{"id", nodes[i][0]}, {"org", nodes[i][1]}, {"public_key", key.hex()}});
  }

  Json doc = {{"network_id", o.network},
              {"created_at_ms", o.created_at_ms ? *o.created_at_ms : now_ms()},
              {"orgs", orgs_json},
              {"nodes", nodes_json}};
  if (!o.config_file.empty()) {
    std::string text = take(read_file_bounded(o.config_file, 64 * 1024));
    auto config = parse_json_strict(text);
    if (!config) fail(make_error("bad_genesis", o.config_file + ": " + config.error().message));
    doc["config"] = *config;
  }
  // The same check every node applies when it starts from this file.
  auto genesis = genesis_from_json(doc);
  if (!genesis) fail(make_error(genesis.error().code, "genesis: " + genesis.error().message));
  take(write_file_atomic(o.out, genesis->to_json().dump(2) + "\n", 0644, Overwrite::kRefuse));
  std::cout << genesis->hash().hex() << "\n";
  std::cerr << "wrote " << o.out << " (network " << genesis->network_id
            << ", orgs: " << genesis->orgs.size() << ", nodes: " << genesis->nodes.size() << ")\n";
}

// The identity and network a read token names, checked before any passphrase
// is asked for.
void check_token_subject(const std::string& identity, const std::string& network) {
  if (identity.empty()) {
    usage(
        "which identity? pass --identity ID (or set CUSTOS_IDENTITY): the enrolled identity "
        "id that this key belongs to");
  }
  if (!is_network_id(identity)) {
    usage("--identity \"" + identity + "\" is not an identity id ([a-z0-9][a-z0-9._-]{0,63})");
  }
  if (!is_network_id(network)) {
    usage("--network \"" + network + "\" is not a network id ([a-z0-9][a-z0-9._-]{0,63})");
  }
}

std::string mint_token(const std::string& key_path, const std::string& identity,
                       const std::string& network, std::int64_t ttl_s) {
  PrivateKey key = unlock_key(key_path);
  std::int64_t now_s = now_ms() / 1000;
  return jwt_mint(key, JwtClaims{identity, network, now_s, now_s + ttl_s});
}

void cmd_token(const std::string& key_path, const std::string& identity, const std::string& network,
               std::int64_t ttl_s) {
  check_token_subject(identity, network);
  std::cout << mint_token(key_path, identity, network, ttl_s) << "\n";
}

// Text from the network, made safe for a terminal: no escape sequences.
std::string printable(std::string_view s, std::size_t max_bytes) {
  std::string out;
  for (char c : s.substr(0, max_bytes)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

std::string member_text(const Json& j) {
  return j.is_string() ? j.get<std::string>()
                       : j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void check_gateway_url(const std::string& gateway) {
  auto url = parse_gateway_url(gateway);
  if (!url) usage("--gateway: " + url.error().message);
}

HttpReply call_gateway(const std::string& method, const std::string& gateway,
                       const std::string& path, const std::string& body, HttpHeaders headers,
                       const HttpTimeouts& timeouts) {
  headers.emplace_back("Accept", "application/json, application/problem+json");
  auto reply = http_request(method, gateway, path, body, headers, timeouts);
  if (!reply) {
    bool is_usage = reply.error().code == "bad_url" || reply.error().code == "bad_path";
    fail(make_error(reply.error().code, "gateway: " + reply.error().message),
         is_usage ? kExitUsage : kExitFailure);
  }
  return std::move(reply).value();
}

// Prints a 2xx body on stdout (JSON pretty, anything else as it came) and
// returns 0; turns anything else into an error that quotes the problem
// document (RFC 9457) the gateway sent.
int print_reply(const HttpReply& reply) {
  Json json = Json::parse(reply.body, nullptr, false);
  if (reply.ok()) {
    if (reply.body.empty()) return kExitOk;
    if (!json.is_discarded()) {
      std::cout << json.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    } else {
      std::cout << reply.body;
      if (reply.body.back() != '\n') std::cout << "\n";
    }
    return kExitOk;
  }
  std::ostringstream m;
  m << "gateway answered HTTP " << reply.status;
  if (json.is_object()) {
    std::string code = json.contains("code") ? member_text(json["code"]) : "";
    std::string title = json.contains("title") ? member_text(json["title"]) : "";
    std::string detail = json.contains("detail") ? member_text(json["detail"]) : "";
    if (!code.empty()) m << " " << printable(code, 100);
    if (!title.empty()) m << ": " << printable(title, 200);
    if (!detail.empty()) m << ": " << printable(detail, 1000);
    if (json.contains("tx_id")) {
      m << " (tx " << printable(member_text(json["tx_id"]), 100);
      if (json.contains("height")) m << " at height " << printable(member_text(json["height"]), 30);
      m << ")";
    }
  } else if (!reply.body.empty()) {
    m << ": " << printable(reply.body, kErrorBodyQuoteBytesMax);
  }
  std::string retry_after = reply.header("Retry-After");
  if (!retry_after.empty()) {
    // Seconds, or an HTTP date (RFC 9110 §10.2.3).
    bool seconds = retry_after.find_first_not_of("0123456789") == std::string::npos;
    m << "; retry after " << printable(retry_after, 40) << (seconds ? " s" : "");
  }
  fail(make_error("gateway_error", m.str()));
}

int cmd_tx_submit(const std::string& tx_path, const std::string& gateway, bool wait) {
  check_gateway_url(gateway);
  Transaction tx = read_tx(tx_path);
  std::string path = wait ? "/v1/transactions?wait=commit" : "/v1/transactions";
  HttpReply reply = call_gateway("POST", gateway, path, tx.to_json().dump(),
                                 {{"Content-Type", "application/json"}},
                                 wait ? kGatewayWaitTimeouts : kGatewayTimeouts);
  return print_reply(reply);
}

int cmd_get(const std::string& path, const std::string& key_path, const std::string& gateway,
            const std::string& identity, const std::string& network) {
  // Checked here as http_request would, but before the passphrase is asked for.
  if (!is_request_path(path)) {
    usage("PATH \"" + printable(path, 200) +
          "\" must start with \"/\" and hold no spaces, e.g. /v1/chain/head");
  }
  check_token_subject(identity, network);
  check_gateway_url(gateway);
  std::string token = mint_token(key_path, identity, network, kTokenTtlDefaultS);
  HttpReply reply = call_gateway("GET", gateway, path, "", {{"Authorization", "Bearer " + token}},
                                 kGatewayTimeouts);
  return print_reply(reply);
}

int run(int argc, char** argv) {
  CLI::App app{
      "custos: keys, genesis documents, transactions, signature checks and gateway\n"
      "requests for the Custos ledger.\n"
      "Exit status: 0 success, 1 failure or invalid signature, 2 usage error.",
      "custos"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");

  int exit_code = kExitOk;

  auto* keygen = app.add_subcommand("keygen", "Create a new key in an encrypted keystore file");
  std::string keygen_out;
  keygen->add_option("--out", keygen_out, "Keystore file to create (never overwritten)")
      ->required();
  keygen->footer("The passphrase comes from CUSTOS_PASSPHRASE or is asked for twice.");
  keygen->callback([&] { cmd_keygen(keygen_out); });

  auto* pubkey = app.add_subcommand("pubkey", "Print the compressed public key of a keystore");
  std::string pubkey_key;
  pubkey->add_option("--key", pubkey_key, "Keystore file")->required();
  pubkey->callback([&] { cmd_pubkey(pubkey_key); });

  auto* node_key = app.add_subcommand("node-key", "Create a node's head-signing key file");
  std::string node_key_out;
  node_key
      ->add_option("--out", node_key_out,
                   "Node key file to create (mode 0600, never "
                   "overwritten)")
      ->required();
  node_key->footer(
      "Writes {\"custos_node_key\": 1, \"private_key\": HEX} and prints the public key, for\n"
      "--node in custos genesis or identity.add_node. The node's config names the file as\n"
      "\"key_file\". It is not encrypted: the node signs unattended.\n"
      "Example: custos node-key --out node-1.key");
  node_key->callback([&] { cmd_node_key(node_key_out); });

  auto* tx = app.add_subcommand("tx", "Build, sign and inspect transactions");
  tx->require_subcommand(1);

  auto* tx_new = tx->add_subcommand("new", "Print a new unsigned transaction");
  std::string call, args_path, new_out = "-";
  const std::string default_network =
      std::getenv("CUSTOS_NETWORK") ? std::getenv("CUSTOS_NETWORK") : kDefaultNetwork;
  std::string network = default_network;
  std::optional<std::string> nonce;
  std::optional<std::int64_t> created_at_ms;
  tx_new->add_option("CALL", call, "CHAINCODE.FUNCTION, e.g. custody.handover")->required();
  tx_new->add_option("ARGS", args_path, "JSON object of arguments ('-' for stdin)")->required();
  tx_new->add_option("--network", network, "Network id (default: $CUSTOS_NETWORK or custos-demo)");
  tx_new->add_option("--nonce", nonce, "Nonce as hex (default: 16 random bytes)");
  tx_new->add_option("--created-at-ms", created_at_ms, "Declared time (default: now)");
  tx_new->add_option("--out", new_out, "Write to this new file instead of stdout");
  tx_new->callback([&] { cmd_tx_new(call, args_path, network, nonce, created_at_ms, new_out); });

  auto* tx_sign = tx->add_subcommand("sign", "Add a signature to a transaction file");
  std::string sign_tx, sign_key, sign_out;
  tx_sign->add_option("TX", sign_tx, "Transaction file (updated in place)")->required();
  tx_sign->add_option("--key", sign_key, "Keystore file")->required();
  tx_sign->add_option("--out", sign_out, "Write here instead ('-' for stdout)");
  tx_sign->callback([&] { cmd_tx_sign(sign_tx, sign_key, sign_out); });

  auto* tx_show = tx->add_subcommand("show", "Decode a transaction and check its signatures");
  std::string show_tx;
  bool show_json = false;
  tx_show->add_option("TX", show_tx, "Transaction file ('-' for stdin)")->required();
  tx_show->add_flag("--json", show_json, "Print JSON");
  tx_show->footer("Exit status 0 when it has signatures and all verify, 1 otherwise.");
  tx_show->callback([&] { exit_code = cmd_tx_show(show_tx, show_json); });

  auto* tx_submit = tx->add_subcommand("submit", "Send a signed transaction to a gateway");
  std::string submit_tx, submit_gateway;
  bool submit_wait = false;
  tx_submit->add_option("TX", submit_tx, "Transaction file ('-' for stdin)")->required();
  tx_submit->add_option("--gateway", submit_gateway, "Gateway base URL, e.g. http://127.0.0.1:8080")
      ->envname("CUSTOS_GATEWAY")
      ->required();
  tx_submit->add_flag("--wait", submit_wait,
                      "Wait until the transaction is in a committed block and report its result");
  tx_submit->footer(
      "POSTs the envelope to URL/v1/transactions (?wait=commit with --wait) and prints the\n"
      "gateway's JSON answer. Exit status 0 when accepted (with --wait: committed with\n"
      "result OK), 1 when refused, failed or unreachable (the problem goes to stderr), 2 for\n"
      "a usage error.\n"
      "Example: custos tx submit tx.json --gateway http://127.0.0.1:8080 --wait");
  tx_submit->callback([&] { exit_code = cmd_tx_submit(submit_tx, submit_gateway, submit_wait); });

  auto* genesis = app.add_subcommand("genesis", "Write a new network's genesis document");
  GenesisOptions gen;
  genesis->add_option("--network", gen.network, "Network id, e.g. custos-demo")->required();
  genesis
      ->add_option("--org", gen.orgs,
                   "ID,KIND,NAME: a founding organisation, e.g. --org 'nl-police,police,Dutch "
                   "National Police' (NAME may hold spaces and commas; repeat for each org)")
      ->allow_extra_args(false)
      ->required();
  genesis
      ->add_option("--admin", gen.admins,
                   "ORG,IDENTITY_ID,KEY: an admin of an org; KEY is a keystore file (its public "
                   "key is read, no passphrase needed) or a compressed public key in hex, e.g. "
                   "--admin nl-police,alice,alice.key (repeat; every org needs one)")
      ->allow_extra_args(false)
      ->required();
  genesis
      ->add_option("--node", gen.nodes,
                   "NODE_ID,ORG,KEY: an initial node, the org that runs it and the key it "
                   "signs heads with; KEY is a node key file (custos node-key) or a compressed "
                   "public key in hex, e.g. --node node-1,nl-police,node-1.key (repeat for each "
                   "node)")
      ->allow_extra_args(false)
      ->required();
  genesis->add_option("--created-at-ms", gen.created_at_ms,
                      "Block 0's time, Unix epoch milliseconds (default: now)");
  genesis->add_option("--config", gen.config_file,
                      "JSON file with the network's chaincode settings, e.g. "
                      "{\"funds\": {\"r16_threshold_minor\": {\"EUR\": 100000}, "
                      "\"structuring\": {\"count\": 5, \"window_ms\": 86400000}}}");
  genesis->add_option("--out", gen.out, "Genesis file to create (never overwritten)")->required();
  {
    std::ostringstream footer;
    footer << "Org kinds:";
    for (auto k : kOrgKinds) footer << " " << k;
    footer
        << ".\nIds match [a-z0-9][a-z0-9._-]{0,63}. Prints the genesis hash, which names the\n"
           "network's history.\n"
           "Example:\n"
           "  custos genesis --network custos-demo \\\n"
           "    --org 'nl-police,police,Dutch National Police' --admin nl-police,alice,alice.key "
           "\\\n"
           "    --org 'nfi,forensic_lab,Netherlands Forensic Institute' \\\n"
           "    --admin \"nfi,bob,$(custos pubkey --key bob.key)\" \\\n"
           "    --node node-1,nl-police,node-1.key --out genesis.json\n"
           "(node-1.key from: custos node-key --out node-1.key)";
    genesis->footer(footer.str());
  }
  genesis->callback([&] { cmd_genesis(gen); });

  auto* token = app.add_subcommand("token", "Print a short-lived read token (JWT) for curl");
  std::string token_key, token_identity, token_network = default_network;
  std::int64_t token_ttl_s = kTokenTtlDefaultS;
  token->add_option("--key", token_key, "Keystore file of the identity")->required();
  token->add_option("--identity", token_identity, "Enrolled identity id the key belongs to")
      ->envname("CUSTOS_IDENTITY");
  token->add_option("--network", token_network,
                    "Network id (default: $CUSTOS_NETWORK or custos-demo)");
  token->add_option("--ttl-s", token_ttl_s, "Lifetime in seconds (default 300, at most 600)")
      ->check(CLI::Range(std::int64_t{1}, kJwtLifetimeMaxS));
  token->footer(
      "An ES256K JWT {sub: identity, aud: network, iat: now, exp: now + ttl} signed with the\n"
      "key; the passphrase comes from CUSTOS_PASSPHRASE or a prompt.\n"
      "Example: curl -H \"Authorization: Bearer $(custos token --key alice.key --identity "
      "alice)\" \\\n"
      "           http://127.0.0.1:8080/v1/chain/head");
  token->callback([&] { cmd_token(token_key, token_identity, token_network, token_ttl_s); });

  auto* get = app.add_subcommand("get", "Read from a gateway with a fresh token");
  std::string get_path, get_key, get_gateway, get_identity, get_network = default_network;
  get->add_option("PATH", get_path, "Request path, e.g. /v1/evidence/E-1/history")->required();
  get->add_option("--key", get_key, "Keystore file of the identity")->required();
  get->add_option("--gateway", get_gateway, "Gateway base URL, e.g. http://127.0.0.1:8080")
      ->envname("CUSTOS_GATEWAY")
      ->required();
  get->add_option("--identity", get_identity, "Enrolled identity id the key belongs to")
      ->envname("CUSTOS_IDENTITY");
  get->add_option("--network", get_network, "Network id (default: $CUSTOS_NETWORK or custos-demo)");
  get->footer(
      "Signs a 300 s token as `custos token` does, GETs URL+PATH with it and prints the JSON\n"
      "answer. Exit status 0 on success, 1 when the gateway refuses or cannot be reached\n"
      "(the problem goes to stderr), 2 for a usage error.\n"
      "Example: custos get /v1/evidence/E-1/history --key alice.key --identity alice \\\n"
      "           --gateway http://127.0.0.1:8080");
  get->callback(
      [&] { exit_code = cmd_get(get_path, get_key, get_gateway, get_identity, get_network); });

  auto* verify = app.add_subcommand("verify-signature",
                                    "Check one ECDSA/SHA-256 secp256k1 signature over some bytes");
  std::string v_pub, v_msg, v_sig;
  verify->add_option("--pubkey", v_pub, "Public key, SEC1 hex (compressed or not)")->required();
  verify->add_option("--message-hex", v_msg, "The signed bytes as hex (may be empty)")->required();
  verify->add_option("--signature", v_sig, "Strict DER or 64-byte r||s, as hex")->required();
  verify->footer(
      "Exit status 0 when the signature verifies, 1 when it does not (high-S, malformed,\n"
      "wrong key or message), 2 for a usage error.");
  verify->callback([&] { exit_code = cmd_verify_signature(v_pub, v_msg, v_sig); });

  auto* bundle = app.add_subcommand("bundle", "Court bundles: verify one offline");
  bundle->require_subcommand(1);
  auto* bundle_verify = bundle->add_subcommand(
      "verify", "Check an evidence item's bundle against the network's genesis file, offline");
  std::string bv_bundle, bv_genesis;
  bool bv_json = false;
  bundle_verify->add_option("BUNDLE", bv_bundle, "Bundle file (JSON), or - for standard input")
      ->required();
  bundle_verify->add_option("--genesis", bv_genesis, "The network's genesis file")->required();
  bundle_verify->add_flag("--json", bv_json, "Print the report as JSON");
  bundle_verify->footer(
      "Checks every signature, that each signer was enrolled, unrevoked and held the role\n"
      "when its transaction was ordered, every Merkle proof, that the item's history is\n"
      "complete at the head, and that a majority of the network's nodes signed the head.\n"
      "Needs no network access. Prints the item's timeline and each check; exit status 0\n"
      "when the bundle verifies, 1 when it does not (the first failing check is named) or\n"
      "cannot be read, 2 for a usage error. docs/verification.md describes every check.\n"
      "Example: custos get /v1/evidence/E-1/bundle --key judge.key > E-1.bundle.json\n"
      "         custos bundle verify E-1.bundle.json --genesis genesis.json");
  bundle_verify->callback(
      [&] { exit_code = cmd_bundle_verify(bv_bundle, bv_genesis, bv_json); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "custos: usage error: " << e.what() << "\nRun 'custos --help' for usage.\n";
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace
}  // namespace custos::wallet

int main(int argc, char** argv) {
  try {
    return custos::wallet::run(argc, argv);
  } catch (const custos::wallet::Exit& e) {
    std::cerr << "custos: error: " << e.message << "\n";
    return e.code;
  }
}
