// Drives the `custos` binary as a user would: through its arguments, its
// environment, its exit status and what it prints.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/tx.h"
#include "tests/test_util.h"
#include "wallet/keystore.h"

using namespace custos;
using custos::testing::read_text;
using custos::testing::read_vector_json;

namespace {

namespace fs = std::filesystem;

struct Run {
  int status = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q.push_back(c);
    }
  }
  q.push_back('\'');
  return q;
}

class Sandbox {
 public:
  Sandbox() {
    dir_ = fs::temp_directory_path() / ("custos-cli-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Sandbox() { fs::remove_all(dir_); }

  fs::path path(const std::string& name) const { return dir_ / name; }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }

  // Runs custos with `args` (each quoted) and an optional passphrase.
  Run custos(const std::vector<std::string>& args, const char* passphrase = "test pass") const {
    // Built with a stream: GCC 12 at -O3 warns falsely (-Wrestrict) on the
    // equivalent chain of std::string additions.
    std::ostringstream cmd;
    cmd << "cd " << quote(dir_.string()) << " && ";
    if (passphrase) {
      cmd << "CUSTOS_PASSPHRASE=" << quote(passphrase) << " ";
    } else {
      cmd << "env -u CUSTOS_PASSPHRASE ";
    }
    cmd << quote(CUSTOS_CLI_PATH);
    for (const auto& a : args) cmd << " " << quote(a);
    cmd << " >stdout.txt 2>stderr.txt </dev/null";
    int raw = std::system(cmd.str().c_str());
    Run r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = read_text(path("stdout.txt").string());
    r.err = read_text(path("stderr.txt").string());
    return r;
  }

 private:
  fs::path dir_;
};

}  // namespace

TEST_CASE("verify-signature agrees with every case of the Wycheproof bitcoin file") {
  Sandbox box;
  Json doc = read_vector_json("wycheproof/ecdsa_secp256k1_sha256_bitcoin_test.json");
  int cases = 0, valid = 0;
  for (const auto& group : doc["testGroups"]) {
    std::string pub = group["publicKey"]["uncompressed"];
    for (const auto& tc : group["tests"]) {
      ++cases;
      bool expect_valid = tc["result"] == "valid";
      valid += expect_valid;
      Run r =
          box.custos({"verify-signature", "--pubkey", pub, "--message-hex",
                      tc["msg"].get<std::string>(), "--signature", tc["sig"].get<std::string>()});
      CHECK_MESSAGE(r.status == (expect_valid ? 0 : 1),
                    "tcId " << tc["tcId"] << " (" << tc["comment"] << "): exit " << r.status);
    }
  }
  CHECK(cases == 463);
  CHECK(valid == 162);
}

TEST_CASE("verify-signature: exit 0 valid, 1 invalid or malformed, 2 usage") {
  Sandbox box;
  auto key = PrivateKey::generate();
  std::string pub = key.public_key().hex();
  std::string sig_empty_msg = key.sign({}).hex();
  std::string sig_der = hex_encode(key.sign(as_bytes(std::string("abc"))).der());

  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "", "--signature",
                    sig_empty_msg})
            .status == 0);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "616263", "--signature",
                    sig_der})
            .status == 0);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "616264", "--signature",
                    sig_der})
            .status == 1);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "", "--signature", "zz"})
            .status == 1);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "", "--signature", ""})
            .status == 1);
  Run bad_pub = box.custos(
      {"verify-signature", "--pubkey", "0299", "--message-hex", "", "--signature", sig_empty_msg});
  CHECK(bad_pub.status == 2);
  CHECK(bad_pub.err.find("public key") != std::string::npos);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--message-hex", "0", "--signature",
                    sig_empty_msg})
            .status == 2);
  CHECK(box.custos({"verify-signature", "--pubkey", pub, "--signature", sig_empty_msg}).status ==
        2);
  CHECK(box.custos({"no-such-command"}).status == 2);
  CHECK(box.custos({}).status == 2);
  Run help = box.custos({"--help"});
  CHECK(help.status == 0);
  CHECK(help.out.find("verify-signature") != std::string::npos);
}

TEST_CASE("keygen, tx new, tx sign with two keys, tx show: both signatures valid") {
  Sandbox box;
  Run alice = box.custos({"keygen", "--out", "alice.key"}, "alice pass");
  REQUIRE(alice.status == 0);
  Run bob = box.custos({"keygen", "--out", "bob.key"}, "bob pass");
  REQUIRE(bob.status == 0);
  std::string alice_pub = alice.out.substr(0, 66);
  CHECK(box.custos({"pubkey", "--key", "alice.key"}, nullptr).out == alice.out);

  // The keystore does not hold the private key in any readable form.
  std::string ks_text = read_text(box.path("alice.key").string());
  auto secret = wallet::keystore_decrypt(parse_json_strict(ks_text).value(), "alice pass");
  REQUIRE(secret.ok());
  CHECK(ks_text.find(hex_encode(secret->secret())) == std::string::npos);
  CHECK(fs::status(box.path("alice.key")).permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write));

  box.write("args.json", R"({"item":"E-1","to":"id-bob","purpose":"lab analysis"})");
  Run made = box.custos({"tx", "new", "custody.handover", "args.json", "--out", "tx.json"});
  REQUIRE(made.status == 0);
  Run unsigned_show = box.custos({"tx", "show", "tx.json"});
  CHECK(unsigned_show.status == 1);  // no signatures yet
  CHECK(unsigned_show.out.find("signatures:  0") != std::string::npos);

  REQUIRE(box.custos({"tx", "sign", "tx.json", "--key", "alice.key"}, "alice pass").status == 0);
  REQUIRE(box.custos({"tx", "sign", "tx.json", "--key", "bob.key"}, "bob pass").status == 0);
  Run shown = box.custos({"tx", "show", "tx.json"});
  CHECK(shown.status == 0);
  CHECK(shown.out.find("call:        custody.handover") != std::string::npos);
  CHECK(shown.out.find("[0] " + alice_pub + "  valid") != std::string::npos);
  CHECK(shown.out.find("[1] " + bob.out.substr(0, 66) + "  valid") != std::string::npos);

  Transaction tx = tx_parse(read_text(box.path("tx.json").string())).value();
  CHECK(shown.out.find("tx id:       " + tx.id().hex()) != std::string::npos);
  CHECK(tx.fully_signed());

  SUBCASE("signing twice with the same key is refused and leaves the file alone") {
    std::string before = read_text(box.path("tx.json").string());
    Run again = box.custos({"tx", "sign", "tx.json", "--key", "alice.key"}, "alice pass");
    CHECK(again.status == 1);
    CHECK(again.err.find("already signed") != std::string::npos);
    // Refused before any passphrase is asked for: none is available here.
    CHECK(box.custos({"tx", "sign", "tx.json", "--key", "alice.key"}, nullptr)
              .err.find("already signed") != std::string::npos);
    CHECK(read_text(box.path("tx.json").string()) == before);
  }
  SUBCASE("a wrong passphrase is a clear error") {
    REQUIRE(
        box.custos({"tx", "new", "custody.handover", "args.json", "--out", "fresh.json"}).status ==
        0);
    Run wrong = box.custos({"tx", "sign", "fresh.json", "--key", "alice.key"}, "not alice");
    CHECK(wrong.status == 1);
    CHECK(wrong.err.find("wrong passphrase") != std::string::npos);
  }
  SUBCASE("a tampered transaction shows INVALID signatures") {
    Json j = tx.to_json();
    j["args"]["to"] = "id-mallory";
    box.write("tampered.json", j.dump());
    Run t = box.custos({"tx", "show", "tampered.json"});
    CHECK(t.status == 1);
    CHECK(t.out.find("INVALID") != std::string::npos);
    Run tj = box.custos({"tx", "show", "--json", "tampered.json"});
    Json shown_json = Json::parse(tj.out);
    CHECK(shown_json["signatures"][0]["valid"] == false);
  }
  SUBCASE("the tx signature checks by hand with verify-signature over the tx id") {
    Run by_hand = box.custos({"verify-signature", "--pubkey", alice_pub, "--message-hex",
                              tx.id().hex(), "--signature", tx.signatures[0].signature.hex()});
    CHECK(by_hand.status == 0);
  }
}

TEST_CASE("client errors are clear and exit non-zero") {
  Sandbox box;
  CHECK(box.custos({"keygen", "--out", "k.key"}, "").status == 1);  // empty passphrase
  Run no_pass = box.custos({"keygen", "--out", "k.key"}, nullptr);
  CHECK(no_pass.status == 1);
  CHECK(no_pass.err.find("CUSTOS_PASSPHRASE") != std::string::npos);
  REQUIRE(box.custos({"keygen", "--out", "k.key"}).status == 0);
  Run exists = box.custos({"keygen", "--out", "k.key"});
  CHECK(exists.status == 1);
  CHECK(exists.err.find("exists") != std::string::npos);

  box.write("float.json", R"({"weight_kg": 1.5})");
  Run f = box.custos({"tx", "new", "custody.register", "float.json"});
  CHECK(f.status == 1);
  CHECK(f.err.find("not an integer") != std::string::npos);
  box.write("dup.json", R"({"a": 1, "a": 2})");
  CHECK(box.custos({"tx", "new", "custody.register", "dup.json"}).err.find("duplicate") !=
        std::string::npos);
  box.write("array.json", "[]");
  CHECK(box.custos({"tx", "new", "custody.register", "array.json"}).status == 1);
  box.write("ok.json", "{}");
  CHECK(box.custos({"tx", "new", "custodyregister", "ok.json"}).status == 2);
  CHECK(box.custos({"tx", "new", "Custody.register", "ok.json"}).status == 1);
  CHECK(box.custos({"tx", "new", "custody.register", "missing.json"}).status == 1);
  Run out = box.custos({"tx", "new", "custody.register", "ok.json", "--nonce",
                        "00112233445566778899aabbccddeeff", "--created-at-ms", "1764460800000",
                        "--network", "custos-test"});
  REQUIRE(out.status == 0);
  Transaction tx = tx_parse(out.out).value();
  CHECK(tx.network_id == "custos-test");
  CHECK(tx.created_at_ms == 1764460800000);

  box.write("garbage.json", "not json");
  Run g = box.custos({"tx", "show", "garbage.json"});
  CHECK(g.status == 1);
  CHECK(g.err.find("garbage.json") != std::string::npos);
  CHECK(box.custos({"tx", "sign", "garbage.json", "--key", "k.key"}).status == 1);
  CHECK(box.custos({"pubkey", "--key", "garbage.json"}).status == 1);
}
