// custos: the command-line client. Keys, transactions and signature checks;
// later issues add submission, reads and offline bundle verification.
//
// Exit codes: 0 success, 1 failure (an error, or a signature that does not
// verify), 2 usage error. Errors go to stderr as "custos: error: ...".
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include "core/tx.h"
#include "wallet/files.h"
#include "wallet/keystore.h"
#include "wallet/passphrase.h"

namespace custos::wallet {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kArgsBytesMax = kTxBytesMax;
constexpr const char* kDefaultNetwork = "custos-demo";

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
  if (!created_at_ms) {
    created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  }
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

int run(int argc, char** argv) {
  CLI::App app{
      "custos: keys, transactions and signature checks for the Custos ledger.\n"
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

  auto* tx = app.add_subcommand("tx", "Build, sign and inspect transactions");
  tx->require_subcommand(1);

  auto* tx_new = tx->add_subcommand("new", "Print a new unsigned transaction");
  std::string call, args_path, new_out = "-";
  std::string network =
      std::getenv("CUSTOS_NETWORK") ? std::getenv("CUSTOS_NETWORK") : kDefaultNetwork;
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
