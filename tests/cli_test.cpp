// Drives the `custos` binary as a user would: through its arguments, its
// environment, its exit status and what it prints.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "core/genesis.h"
#include "core/jwt.h"
#include "core/node_key.h"
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

  // Runs custos with `args` (each quoted), an optional passphrase and extra
  // environment ("NAME=value"). The CUSTOS_* variables of whoever runs the
  // tests are removed first, so they cannot change an outcome.
  Run custos(const std::vector<std::string>& args, const char* passphrase = "test pass",
             const std::vector<std::string>& env = {}) const {
    // Built with a stream: GCC 12 at -O3 warns falsely (-Wrestrict) on the
    // equivalent chain of std::string additions.
    std::ostringstream cmd;
    cmd << "cd " << quote(dir_.string()) << " && env -u CUSTOS_PASSPHRASE -u CUSTOS_IDENTITY "
        << "-u CUSTOS_NETWORK -u CUSTOS_GATEWAY ";
    if (passphrase) cmd << "CUSTOS_PASSPHRASE=" << quote(passphrase) << " ";
    for (const auto& e : env) cmd << quote(e) << " ";
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

namespace {

struct HttpExchange {
  std::string request_line;  // e.g. "POST /v1/transactions HTTP/1.1"
  std::string head;          // the header lines, as received
  std::string body;

  std::string header(const std::string& name) const {
    std::istringstream lines(head);
    std::string line;
    while (std::getline(lines, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos || colon != name.size()) continue;
      bool same = std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
      if (!same) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
    return "";
  }
};

// A stand-in gateway written straight on sockets, independent of the HTTP
// library the client uses: it answers one request with a canned response and
// hands back what it received. Listens on 127.0.0.1 only.
class FakeGateway {
 public:
  FakeGateway() {
    fd_ = custos::testing::bind_loopback_socket(&port_);
    REQUIRE(::listen(fd_, 4) == 0);
  }
  ~FakeGateway() { ::close(fd_); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Starts serving one exchange; get() the future after the client ran.
  // `extra_headers` are whole lines ending in "\r\n".
  std::future<HttpExchange> answer_once(int status, const std::string& content_type,
                                        const std::string& body,
                                        const std::string& extra_headers = "") {
    std::ostringstream response;
    response << "HTTP/1.1 " << status << " Canned\r\nContent-Type: " << content_type
             << "\r\nContent-Length: " << body.size() << "\r\nConnection: close\r\n"
             << extra_headers << "\r\n"
             << body;
    return std::async(std::launch::async,
                      [fd = fd_, text = response.str()] { return serve(fd, text); });
  }

 private:
  static constexpr int kWaitMs = 10'000;  // a client that never comes fails the test, not hangs it
  static constexpr std::size_t kRequestBytesMax = 1 << 20;

  static HttpExchange serve(int listen_fd, const std::string& response) {
    HttpExchange ex;
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, kWaitMs) != 1) return ex;
    int conn = ::accept(listen_fd, nullptr, nullptr);
    if (conn < 0) return ex;
    std::string in;
    std::size_t head_end = std::string::npos, want = 0;
    char buf[4096];
    while (in.size() < kRequestBytesMax) {
      if (head_end != std::string::npos && in.size() >= head_end + 4 + want) break;
      pollfd c{conn, POLLIN, 0};
      if (::poll(&c, 1, kWaitMs) != 1) break;
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        auto first = in.find("\r\n");
        ex.request_line = in.substr(0, first);
        ex.head = in.substr(first + 2, head_end - first);
        std::string length = ex.header("Content-Length");
        want = length.empty() ? 0 : std::stoul(length);
      }
    }
    if (head_end != std::string::npos) ex.body = in.substr(head_end + 4);
    ::send(conn, response.data(), response.size(), MSG_NOSIGNAL);
    ::shutdown(conn, SHUT_WR);
    ::close(conn);
    return ex;
  }

  int fd_ = -1;
  int port_ = 0;
};

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

}  // namespace

TEST_CASE("node-key: a 0600 key file whose public key is printed; never overwritten") {
  Sandbox box;
  Run made = box.custos({"node-key", "--out", "n.key"}, nullptr);
  REQUIRE_MESSAGE(made.status == 0, made.err);
  auto key = node_key_from_text(read_text(box.path("n.key").string()));
  REQUIRE(key.ok());
  CHECK(made.out == key->public_key().hex() + "\n");
  CHECK((fs::status(box.path("n.key")).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  std::string before = read_text(box.path("n.key").string());
  Run again = box.custos({"node-key", "--out", "n.key"}, nullptr);
  CHECK(again.status == 1);
  CHECK(again.err.find("exists") != std::string::npos);
  CHECK(read_text(box.path("n.key").string()) == before);
  CHECK(box.custos({"node-key"}, nullptr).status == 2);
}

TEST_CASE("genesis: orgs with keystore and hex admin keys; the printed hash names the file") {
  Sandbox box;
  Run alice = box.custos({"keygen", "--out", "alice.key"}, "alice pass");
  REQUIRE(alice.status == 0);
  PrivateKey bob = PrivateKey::generate();
  Run node_key = box.custos({"node-key", "--out", "node-1.key"}, nullptr);
  REQUIRE_MESSAGE(node_key.status == 0, node_key.err);
  std::vector<std::string> args = {"genesis",
                                   "--network",
                                   "custos-test",
                                   "--org",
                                   "nl-police,police,Dutch National Police, Unit 1",
                                   "--org",
                                   "nfi,forensic_lab,Netherlands Forensic Institute",
                                   "--admin",
                                   "nl-police,alice,alice.key",
                                   "--admin",
                                   "nfi,bob," + bob.public_key().hex(),
                                   "--node",
                                   "node-1,nl-police,node-1.key",
                                   "--created-at-ms",
                                   "1764460800000",
                                   "--out",
                                   "genesis.json"};
  // The keystore's public key is read in clear: no passphrase needed.
  Run made = box.custos(args, nullptr);
  REQUIRE_MESSAGE(made.status == 0, made.err);
  CHECK(made.out.size() == 65);

  Genesis g =
      genesis_from_json(parse_json_strict(read_text(box.path("genesis.json").string())).value())
          .value();
  CHECK(made.out == g.hash().hex() + "\n");
  CHECK(g.network_id == "custos-test");
  CHECK(g.created_at_ms == 1764460800000);
  REQUIRE(g.orgs.size() == 2);
  CHECK(g.orgs[0].id == "nl-police");
  CHECK(g.orgs[0].kind == "police");
  CHECK(g.orgs[0].name == "Dutch National Police, Unit 1");
  REQUIRE(g.orgs[0].admins.size() == 1);
  CHECK(g.orgs[0].admins[0].id == "alice");
  CHECK(g.orgs[0].admins[0].public_key.hex() == first_line(alice.out));
  CHECK(g.orgs[1].kind == "forensic_lab");
  REQUIRE(g.orgs[1].admins.size() == 1);
  CHECK(g.orgs[1].admins[0].id == "bob");
  CHECK(g.orgs[1].admins[0].public_key == bob.public_key());
  REQUIRE(g.nodes.size() == 1);
  CHECK(g.nodes[0].id == "node-1");
  CHECK(g.nodes[0].org == "nl-police");
  CHECK(g.nodes[0].public_key.hex() == first_line(node_key.out));

  // The same inputs give the same hash; a different one changes it.
  args.back() = "again.json";
  CHECK(box.custos(args, nullptr).out == made.out);
  args.back() = "later.json";
  args[args.size() - 3] = "1764460800001";
  Run later = box.custos(args, nullptr);
  REQUIRE(later.status == 0);
  CHECK(later.out != made.out);

  SUBCASE("--config carries the network's chaincode settings; bad settings are refused") {
    box.write("config.json", R"({"funds":{"r16_threshold_minor":{"EUR":100000,"GBP":90000}}})");
    args.back() = "configured.json";
    args.insert(args.end() - 2, {"--config", "config.json"});
    Run configured = box.custos(args, nullptr);
    REQUIRE_MESSAGE(configured.status == 0, configured.err);
    Genesis c = genesis_from_json(
                    parse_json_strict(read_text(box.path("configured.json").string())).value())
                    .value();
    CHECK(c.config["funds"]["r16_threshold_minor"]["GBP"] == 90000);
    CHECK(configured.out == c.hash().hex() + "\n");
    box.write("config.json", R"({"funds":{"r16_threshold_minor":{"EUR":1.5}}})");
    args.back() = "bad.json";
    CHECK(box.custos(args, nullptr).status == 1);
  }
  SUBCASE("an existing --out is refused and left alone") {
    std::string before = read_text(box.path("genesis.json").string());
    args.back() = "genesis.json";
    Run again = box.custos(args, nullptr);
    CHECK(again.status == 1);
    CHECK(again.err.find("exists") != std::string::npos);
    CHECK(read_text(box.path("genesis.json").string()) == before);
  }
}

TEST_CASE("genesis refuses inconsistent networks with clear messages") {
  Sandbox box;
  std::string k1 = PrivateKey::generate().public_key().hex();
  std::string k2 = PrivateKey::generate().public_key().hex();
  // --node values: node n1 of org a with a key of its own.
  const std::string kn = "n1,a," + PrivateKey::generate().public_key().hex();
  const std::string kn2 = "n1,a," + PrivateKey::generate().public_key().hex();
  const std::string kn3 = PrivateKey::generate().public_key().hex();
  auto genesis = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"genesis", "--network", "custos-test", "--out", "g.json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return box.custos(args, nullptr);
  };
  struct Refusal {
    const char* what;
    std::vector<std::string> args;
    const char* message;
  };
  std::vector<Refusal> refusals = {
      {"admin of an unknown org",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--admin", "nope,bob," + k2, "--node",
        kn},
       "org \"nope\" is not given with --org"},
      {"node of an unknown org",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", "n1,nope," + kn3},
       "org \"nope\" is not given with --org"},
      {"unknown kind",
       {"--org", "a,sheriff,A", "--admin", "a,alice," + k1, "--node", kn},
       "unknown kind \"sheriff\""},
      {"duplicate org id",
       {"--org", "a,police,A", "--org", "a,court,B", "--admin", "a,alice," + k1, "--node", kn},
       "org id \"a\" is given twice"},
      {"duplicate identity id",
       {"--org", "a,police,A", "--org", "b,court,B", "--admin", "a,alice," + k1, "--admin",
        "b,alice," + k2, "--node", kn},
       "identity id \"alice\" repeats"},
      {"duplicate node id",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", kn, "--node", kn2},
       "node id repeats"},
      {"one key for two admins",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--admin", "a,bob," + k1, "--node", kn},
       "public key used twice"},
      {"org without admin",
       {"--org", "a,police,A", "--org", "b,court,B", "--admin", "a,alice," + k1, "--node", kn},
       "org \"b\" has no admin"},
      {"bad identity id",
       {"--org", "a,police,A", "--admin", "a,Alice," + k1, "--node", kn},
       "admins[0]"},
      {"key neither hex nor keystore",
       {"--org", "a,police,A", "--admin", "a,alice,missing.key", "--node", kn},
       "--admin \"a,alice,missing.key\": cannot read missing.key"},
      {"a node with an admin's key",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", "n1,a," + k1},
       "nodes[0]: public key used twice"},
      {"two nodes with one key",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", kn, "--node",
        "n2" + kn.substr(2)},
       "nodes[1]: public key used twice"},
      {"node key neither hex nor node key file",
       {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", "n1,a,missing.key"},
       "--node \"n1,a,missing.key\": cannot read missing.key"},
      {"public key off the curve",
       {"--org", "a,police,A", "--admin", "a,alice,02" + std::string(64, 'f'), "--node", kn},
       "--admin"},
  };
  for (const auto& r : refusals) {
    Run run = genesis(r.args);
    CHECK_MESSAGE(run.status == 1, r.what << ": " << run.err);
    CHECK_MESSAGE(run.err.find(r.message) != std::string::npos, r.what << ": " << run.err);
    CHECK_MESSAGE(!fs::exists(box.path("g.json")), r.what);
  }
  Run bad_network = box.custos({"genesis", "--network", "Custos", "--org", "a,police,A", "--admin",
                                "a,alice," + k1, "--node", kn, "--out", "g.json"},
                               nullptr);
  CHECK(bad_network.status == 1);
  CHECK(bad_network.err.find("network_id") != std::string::npos);

  // Malformed options are usage errors.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--org", "a,police", "--admin", "a,alice," + k1, "--node", kn},
           {"--org", "a,police,A", "--admin", "a,alice", "--node", kn},
           {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", "n1"},
           {"--org", "a,police,A", "--admin", "a,alice," + k1, "--node", "n1,a"},
           {"--org", "a,police,A", "--admin", "a,alice," + k1},
           {"--org", "a,police,A", "a,court,B", "--admin", "a,alice," + k1, "--node", kn}}) {
    Run run = genesis(args);
    CHECK_MESSAGE(run.status == 2, args[1] << " " << args[3] << ": " << run.err);
  }
  CHECK(genesis({"--org", "a,police", "--admin", "a,alice," + k1, "--node", kn})
            .err.find("expected ID,KIND,NAME") != std::string::npos);
  CHECK(!fs::exists(box.path("g.json")));
}

TEST_CASE("token: a JWT for the identity and network, signed by the key") {
  Sandbox box;
  Run alice = box.custos({"keygen", "--out", "alice.key"}, "alice pass");
  REQUIRE(alice.status == 0);
  PublicKey alice_pub = PublicKey::from_hex(first_line(alice.out)).value();

  std::int64_t before = now_s();
  Run t = box.custos({"token", "--key", "alice.key", "--identity", "alice", "--network",
                      "custos-test", "--ttl-s", "120"},
                     "alice pass");
  std::int64_t after = now_s();
  REQUIRE_MESSAGE(t.status == 0, t.err);
  std::string token = first_line(t.out);
  CHECK(t.out == token + "\n");
  auto jwt = jwt_parse(token);
  REQUIRE(jwt.ok());
  CHECK(jwt_verify_signature(*jwt, alice_pub));
  CHECK(!jwt_verify_signature(*jwt, PrivateKey::generate().public_key()));
  CHECK(jwt->claims.subject == "alice");
  CHECK(jwt->claims.audience == "custos-test");
  CHECK(jwt->claims.issued_at_s >= before);
  CHECK(jwt->claims.issued_at_s <= after);
  CHECK(jwt->claims.expires_at_s == jwt->claims.issued_at_s + 120);
  CHECK(jwt_check_claims(jwt->claims, "custos-test", after).ok());

  SUBCASE("identity and network from the environment; default lifetime 300 s") {
    Run e = box.custos({"token", "--key", "alice.key"}, "alice pass",
                       {"CUSTOS_IDENTITY=alice.lab", "CUSTOS_NETWORK=custos-env"});
    REQUIRE_MESSAGE(e.status == 0, e.err);
    auto j = jwt_parse(first_line(e.out)).value();
    CHECK(j.claims.subject == "alice.lab");
    CHECK(j.claims.audience == "custos-env");
    CHECK(j.claims.expires_at_s - j.claims.issued_at_s == 300);
    CHECK(jwt_verify_signature(j, alice_pub));
    Run d = box.custos({"token", "--key", "alice.key", "--identity", "alice"}, "alice pass");
    CHECK(jwt_parse(first_line(d.out)).value().claims.audience == "custos-demo");
  }
  SUBCASE("no identity, a bad identity or a lifetime over 600 s is a usage error") {
    // Refused before the passphrase is asked for: none is available here.
    Run none = box.custos({"token", "--key", "alice.key"}, nullptr);
    CHECK(none.status == 2);
    CHECK(none.err.find("--identity") != std::string::npos);
    CHECK(none.out.empty());
    CHECK(box.custos({"token", "--key", "alice.key", "--identity", "Alice"}, nullptr).status == 2);
    CHECK(box.custos({"token", "--key", "alice.key", "--identity", "alice", "--network", "Bad"},
                     nullptr)
              .status == 2);
    CHECK(box.custos({"token", "--key", "alice.key", "--identity", "alice", "--ttl-s", "601"},
                     "alice pass")
              .status == 2);
    CHECK(box.custos({"token", "--key", "alice.key", "--identity", "alice", "--ttl-s", "0"},
                     "alice pass")
              .status == 2);
  }
  SUBCASE("a wrong passphrase mints nothing") {
    Run wrong = box.custos({"token", "--key", "alice.key", "--identity", "alice"}, "not alice");
    CHECK(wrong.status == 1);
    CHECK(wrong.out.empty());
    CHECK(wrong.err.find("wrong passphrase") != std::string::npos);
  }
}

TEST_CASE("tx submit and get: unreachable gateways, bad URLs and bad paths") {
  Sandbox box;
  REQUIRE(box.custos({"keygen", "--out", "alice.key"}).status == 0);
  box.write("args.json", R"({"item":"E-1"})");
  REQUIRE(box.custos({"tx", "new", "custody.register", "args.json", "--out", "tx.json"}).status ==
          0);
  std::string url = "http://127.0.0.1:" + std::to_string(custos::testing::free_loopback_port());

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"tx", "submit", "tx.json", "--gateway", url},
           {"tx", "submit", "tx.json", "--gateway", url, "--wait"},
           {"get", "/v1/chain/head", "--key", "alice.key", "--identity", "alice", "--gateway",
            url}}) {
    Run r = box.custos(args);
    CHECK_MESSAGE(r.status == 1, args[1]);
    CHECK_MESSAGE(r.err.find("cannot connect to 127.0.0.1:" + url.substr(url.rfind(':') + 1)) !=
                      std::string::npos,
                  r.err);
    CHECK(r.out.empty());
  }
  // The gateway may also come from the environment.
  Run env = box.custos({"tx", "submit", "tx.json"}, nullptr, {"CUSTOS_GATEWAY=" + url});
  CHECK(env.status == 1);
  CHECK(env.err.find("cannot connect") != std::string::npos);
  CHECK(box.custos({"tx", "submit", "tx.json"}).status == 2);  // no gateway at all

  // Usage errors come before any passphrase is asked for: none is available.
  Run relative = box.custos(
      {"get", "v1/chain/head", "--key", "alice.key", "--identity", "alice", "--gateway", url},
      nullptr);
  CHECK(relative.status == 2);
  CHECK(relative.err.find("must start with \"/\"") != std::string::npos);
  CHECK(
      box.custos({"get", "/v1/a b", "--key", "alice.key", "--identity", "alice", "--gateway", url},
                 nullptr)
          .status == 2);
  CHECK(box.custos({"get", "/v1/chain/head", "--key", "alice.key", "--gateway", url}, nullptr)
            .status == 2);  // no identity
  Run bad_url = box.custos({"get", "/v1/chain/head", "--key", "alice.key", "--identity", "alice",
                            "--gateway", "127.0.0.1:8080"},
                           nullptr);
  CHECK(bad_url.status == 2);
  CHECK(bad_url.err.find("gateway URL") != std::string::npos);
  CHECK(box.custos({"tx", "submit", "tx.json", "--gateway", "ftp://127.0.0.1:1"}).status == 2);
  // A transaction file that is not one is refused before any connection.
  box.write("garbage.json", "not json");
  CHECK(box.custos({"tx", "submit", "garbage.json", "--gateway", url}).err.find("garbage.json") !=
        std::string::npos);
}

TEST_CASE("tx submit against a stand-in gateway: what is sent, what is printed, exit status") {
  Sandbox box;
  FakeGateway gw;
  REQUIRE(box.custos({"keygen", "--out", "alice.key"}).status == 0);
  box.write("args.json", R"({"item":"E-1"})");
  REQUIRE(box.custos({"tx", "new", "custody.register", "args.json", "--out", "tx.json"}).status ==
          0);
  REQUIRE(box.custos({"tx", "sign", "tx.json", "--key", "alice.key"}).status == 0);
  Transaction tx = tx_parse(read_text(box.path("tx.json").string())).value();

  SUBCASE("accepted: the gateway's JSON on stdout, exit 0") {
    auto served = gw.answer_once(202, "application/json",
                                 R"({"tx_id":")" + tx.id().hex() + R"(","status":"pending"})");
    Run r = box.custos({"tx", "submit", "tx.json", "--gateway", gw.url()}, nullptr);
    HttpExchange ex = served.get();
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(ex.request_line == "POST /v1/transactions HTTP/1.1");
    CHECK(ex.header("Content-Type") == "application/json");
    auto sent = tx_parse(ex.body);
    REQUIRE(sent.ok());
    CHECK(sent->id() == tx.id());
    CHECK(sent->fully_signed());
    Json printed = parse_json_strict(r.out).value();
    CHECK(printed["tx_id"] == tx.id().hex());
    CHECK(printed["status"] == "pending");
  }
  SUBCASE("--wait, committed with a failing result: the problem on stderr, exit 1") {
    auto served =
        gw.answer_once(422, "application/problem+json",
                       R"({"type":"about:blank","title":"Transaction failed","status":422,)"
                       R"("code":"not_custodian","detail":"alice does not hold E-1","tx_id":")" +
                           tx.id().hex() + R"(","height":7})");
    Run r = box.custos({"tx", "submit", "tx.json", "--gateway", gw.url() + "/", "--wait"}, nullptr);
    HttpExchange ex = served.get();
    CHECK(ex.request_line == "POST /v1/transactions?wait=commit HTTP/1.1");
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    for (const std::string& part :
         {std::string("422"), std::string("not_custodian"), std::string("Transaction failed"),
          std::string("alice does not hold E-1"), tx.id().hex(), std::string("height 7")}) {
      CHECK_MESSAGE(r.err.find(part) != std::string::npos, part << " in " << r.err);
    }
  }
  SUBCASE("--wait, committed OK: exit 0") {
    auto served =
        gw.answer_once(200, "application/json",
                       R"({"tx_id":")" + tx.id().hex() + R"(","height":7,"result":{"code":"OK"}})");
    Run r = box.custos({"tx", "submit", "tx.json", "--gateway", gw.url(), "--wait"}, nullptr);
    served.get();
    CHECK(r.status == 0);
    CHECK(parse_json_strict(r.out).value()["height"] == 7);
  }
  SUBCASE("mempool full: 503 with Retry-After") {
    auto served = gw.answer_once(503, "application/problem+json",
                                 R"({"title":"Mempool full","status":503,"code":"mempool_full"})",
                                 "Retry-After: 2\r\n");
    Run r = box.custos({"tx", "submit", "tx.json", "--gateway", gw.url()}, nullptr);
    served.get();
    CHECK(r.status == 1);
    CHECK(r.err.find("mempool_full") != std::string::npos);
    CHECK(r.err.find("retry after 2 s") != std::string::npos);
  }
  SUBCASE("an answer that is not JSON is quoted, without terminal control characters") {
    auto served = gw.answer_once(502, "text/html", "<html>bad \x1b[31mgateway</html>");
    Run r = box.custos({"tx", "submit", "tx.json", "--gateway", gw.url()}, nullptr);
    served.get();
    CHECK(r.status == 1);
    CHECK(r.err.find("HTTP 502") != std::string::npos);
    CHECK(r.err.find("<html>bad") != std::string::npos);
    CHECK(r.err.find('\x1b') == std::string::npos);
  }
}

TEST_CASE("get against a stand-in gateway: a fresh token, the JSON pretty, problems on stderr") {
  Sandbox box;
  FakeGateway gw;
  Run alice = box.custos({"keygen", "--out", "alice.key"}, "alice pass");
  REQUIRE(alice.status == 0);
  PublicKey alice_pub = PublicKey::from_hex(first_line(alice.out)).value();

  SUBCASE("200: the body printed as indented JSON; the token names identity and network") {
    auto served = gw.answer_once(200, "application/json", R"({"events":[{"seq":1}],"next":null})");
    Run r = box.custos({"get", "/v1/evidence/E-1/history?limit=10", "--key", "alice.key",
                        "--identity", "alice", "--network", "custos-test", "--gateway", gw.url()},
                       "alice pass");
    HttpExchange ex = served.get();
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(ex.request_line == "GET /v1/evidence/E-1/history?limit=10 HTTP/1.1");
    std::string auth = ex.header("Authorization");
    REQUIRE(auth.rfind("Bearer ", 0) == 0);
    auto jwt = jwt_parse(auth.substr(7));
    REQUIRE(jwt.ok());
    CHECK(jwt_verify_signature(*jwt, alice_pub));
    CHECK(jwt->claims.subject == "alice");
    CHECK(jwt->claims.audience == "custos-test");
    CHECK(jwt_check_claims(jwt->claims, "custos-test", now_s()).ok());
    CHECK(parse_json_strict(r.out).value() == Json::parse(R"({"events":[{"seq":1}],"next":null})"));
    CHECK(r.out.find("\n  \"events\"") != std::string::npos);  // indented
  }
  SUBCASE("404 problem: exit 1 with its code and title") {
    auto served = gw.answer_once(404, "application/problem+json",
                                 R"({"title":"No such item","status":404,"code":"not_found"})");
    Run r = box.custos({"get", "/v1/evidence/E-9", "--key", "alice.key", "--identity", "alice",
                        "--gateway", gw.url()},
                       "alice pass");
    served.get();
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("404 not_found: No such item") != std::string::npos);
  }
  SUBCASE("a wrong passphrase is an error, exit 1") {
    Run r = box.custos(
        {"get", "/v1/orgs", "--key", "alice.key", "--identity", "alice", "--gateway", gw.url()},
        "not alice");
    CHECK(r.status == 1);
    CHECK(r.err.find("wrong passphrase") != std::string::npos);
  }
}
