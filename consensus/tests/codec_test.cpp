// The Raft message wire codec (consensus/codec.h, docs/consensus.md "Wire
// format"): round trips, the golden vector, and that decode_message accepts
// exactly the byte strings encode_message produces.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>

#include "consensus/codec.h"
#include "consensus/raft.h"
#include "core/bytes.h"
#include "tests/test_util.h"

// Records the allocations made while a test is watching, so the huge-count
// tests can show that a claimed count is refused before anything is reserved.
// Replacing the global operator new affects the whole test binary; outside a
// watch it is malloc plus one relaxed load. noinline: once inlined, GCC 12
// pairs the caller's `new` with this `free` and reports a mismatch.
namespace {
std::atomic<bool> g_watching{false};
std::atomic<std::size_t> g_largest_allocation_bytes{0};
std::atomic<std::size_t> g_total_allocation_bytes{0};
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  if (g_watching.load(std::memory_order_relaxed)) {
    g_total_allocation_bytes += size;
    std::size_t largest = g_largest_allocation_bytes.load();
    while (size > largest && !g_largest_allocation_bytes.compare_exchange_weak(largest, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace custos;
using namespace custos::consensus;

namespace {

constexpr auto kLastMessageType = MessageType::timeout_now;

struct AllocationWatch {
  AllocationWatch() {
    g_largest_allocation_bytes = 0;
    g_total_allocation_bytes = 0;
    g_watching = true;
  }
  ~AllocationWatch() { g_watching = false; }
};

Bytes text(std::string_view s) {
  ByteView b = as_bytes(s);
  return Bytes(b.begin(), b.end());
}

// A message with every field set to a distinct, non-default value.
Message full_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = 1;
  m.to = 0xfffffffffffffffe;
  m.term = 7;
  m.index = 41;
  m.log_term = 6;
  m.commit = 40;
  m.entries = {
      Entry{42, 7, EntryType::normal, text("put k v")},
      Entry{43, 7, EntryType::noop, {}},
      Entry{44, 7, EntryType::conf_change, Bytes{0x00, 0x01, 0xff}},
  };
  m.reject = true;
  m.reject_hint = 39;
  m.snapshot = Snapshot{SnapshotMeta{30, 5, ConfState{{1, 2, 3}, {8, 9}}}, text("state at 30")};
  m.context = text("read-17");
  return m;
}

// docs/consensus.md, "Wire format": the golden message and its encoding.
Message golden_message() {
  Message m;
  m.type = MessageType::snapshot;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  m.index = 4;
  m.log_term = 5;
  m.commit = 6;
  m.entries = {Entry{5, 3, EntryType::normal, text("ab")},
               Entry{6, 3, EntryType::conf_change, Bytes{0x01, 0x02}}};
  m.reject = true;
  m.reject_hint = 0x0123456789abcdef;
  m.snapshot = Snapshot{SnapshotMeta{4, 2, ConfState{{1, 2, 3}, {9}}}, text("snap")};
  m.context = text("rq");
  return m;
}

// One field per line, annotated.
// clang-format off
constexpr const char* kGoldenHex =
    "01"                // version 1
    "08"                // type: snapshot
    "0000000000000001"  // from
    "0000000000000002"  // to
    "0000000000000003"  // term
    "0000000000000004"  // index
    "0000000000000005"  // log_term
    "0000000000000006"  // commit
    "00000002"          // entries: 2
    "0000000000000005"  //   [0] index
    "0000000000000003"  //   [0] term
    "00"                //   [0] type: normal
    "00000002"
    "6162"              //   [0] payload "ab"
    "0000000000000006"  //   [1] index
    "0000000000000003"  //   [1] term
    "02"                //   [1] type: conf_change
    "00000002"
    "0102"              //   [1] payload
    "01"                // reject
    "0123456789abcdef"  // reject_hint
    "01"                // snapshot present
    "0000000000000004"  //   index
    "0000000000000002"  //   term
    "00000003"          //   voters: 3
    "0000000000000001"
    "0000000000000002"
    "0000000000000003"
    "00000001"          //   learners: 1
    "0000000000000009"
    "00000004"
    "736e6170"          //   data "snap"
    "00000002"
    "7271";             // context "rq"
// clang-format on

Bytes golden_bytes() {
  return hex_decode(kGoldenHex).value();
}

// Offsets in the encoding of a message without entries or snapshot.
constexpr std::size_t kEntriesCountAt = 50;
constexpr std::size_t kRejectAt = 54;
constexpr std::size_t kSnapshotPresentAt = 63;
constexpr std::size_t kContextLengthAt = 64;

void put_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = std::uint8_t(v >> (24 - 8 * i));
}

// "" if `b` is refused as bad_message or decodes to a message that encodes
// back to exactly `b`; otherwise what went wrong.
std::string canonical_problem(ByteView b) {
  Result<Message> m = decode_message(b);
  if (!m) {
    if (m.error().code != "bad_message") return "error code " + m.error().code;
    return "";
  }
  Bytes again = encode_message(*m);
  if (again != Bytes(b.begin(), b.end())) return "accepted non-canonical " + hex_encode(b);
  return "";
}

void check_refused(ByteView b, const std::string& expected) {
  Result<Message> m = decode_message(b);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == "bad_message");
  INFO(m.error().message);
  CHECK(m.error().message.find(expected) != std::string::npos);
}

}  // namespace

TEST_CASE("codec: every message type round-trips with every field set") {
  for (int t = 0; t <= int(kLastMessageType); ++t) {
    Message m = full_message(MessageType(t));
    CAPTURE(to_string(m.type));
    Result<Message> back = decode_message(encode_message(m));
    REQUIRE(back.ok());
    CHECK(back->type == m.type);
    CHECK(back->from == m.from);
    CHECK(back->to == m.to);
    CHECK(back->term == m.term);
    CHECK(back->index == m.index);
    CHECK(back->log_term == m.log_term);
    CHECK(back->commit == m.commit);
    CHECK(back->entries == m.entries);
    CHECK(back->reject == m.reject);
    CHECK(back->reject_hint == m.reject_hint);
    CHECK(back->snapshot == m.snapshot);
    CHECK(back->context == m.context);
    CHECK(*back == m);
  }
}

TEST_CASE("codec: defaults, extremes and an empty snapshot round-trip and differ") {
  Message defaults;
  Message extremes = full_message(MessageType::append_response);
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  extremes.from = extremes.to = extremes.term = extremes.index = max;
  extremes.log_term = extremes.commit = extremes.reject_hint = max;
  extremes.entries[0].index = extremes.entries[0].term = max;
  extremes.snapshot->meta.index = extremes.snapshot->meta.term = max;
  extremes.snapshot->meta.conf.voters = {max, 0};
  Message empty_snapshot;
  empty_snapshot.snapshot = Snapshot{};  // present but empty() is not "absent"

  for (const Message& m : {defaults, extremes, empty_snapshot}) {
    Result<Message> back = decode_message(encode_message(m));
    REQUIRE(back.ok());
    CHECK(*back == m);
  }
  CHECK(encode_message(defaults) != encode_message(empty_snapshot));
  // A message without entries, snapshot or context: version, type, six u64,
  // entry count, reject, reject_hint, snapshot flag, context length.
  CHECK(encode_message(defaults).size() == 1 + 1 + 6 * 8 + 4 + 1 + 8 + 1 + 4);
}

TEST_CASE("codec: the golden vector pins the format") {
  CHECK(hex_encode(encode_message(golden_message())) == kGoldenHex);
  Result<Message> decoded = decode_message(golden_bytes());
  REQUIRE(decoded.ok());
  CHECK(*decoded == golden_message());
}

TEST_CASE("codec: docs/consensus.md shows the golden vector") {
  // The hex block that follows "As one hex string:" in the "Wire format" section.
  std::string doc = testing::read_text(testing::source_path("docs/consensus.md"));
  std::size_t section = doc.find("\n## Wire format\n");
  REQUIRE(section != std::string::npos);
  std::size_t intro = doc.find("As one hex string:", section);
  REQUIRE(intro != std::string::npos);
  std::size_t open = doc.find("```\n", intro);
  REQUIRE(open != std::string::npos);
  std::size_t close = doc.find("```", open + 4);
  REQUIRE(close != std::string::npos);
  std::string documented;
  for (char c : doc.substr(open + 4, close - open - 4)) {
    if (c != '\n') documented += c;
  }
  CHECK(documented == kGoldenHex);
}

TEST_CASE("codec: every truncation of a valid encoding is refused") {
  std::vector<Bytes> encodings = {golden_bytes(), encode_message(Message{})};
  for (int t = 0; t <= int(kLastMessageType); ++t) {
    encodings.push_back(encode_message(full_message(MessageType(t))));
  }
  for (const Bytes& full : encodings) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      Result<Message> m = decode_message(ByteView(full).first(n));
      CAPTURE(n);
      REQUIRE_FALSE(m.ok());
      CHECK(m.error().code == "bad_message");
      // A prefix that ends inside a list announces more than is left.
      const std::string& why = m.error().message;
      CHECK((why.starts_with("truncated") || why.starts_with("count too large")));
    }
  }
  check_refused({}, "truncated: needs 1 bytes, 0 remain (field version at offset 0)");
  check_refused(ByteView(golden_bytes()).first(20), "field term at offset 18");
  check_refused(ByteView(golden_bytes()).first(96), "field entries[1].payload at offset 94");
  check_refused(ByteView(golden_bytes()).first(66),
                "count too large: 2 needs at least 42 bytes, 12");
}

TEST_CASE("codec: each refusal names what is wrong") {
  const Bytes base = encode_message(Message{});

  SUBCASE("trailing bytes") {
    Bytes b = golden_bytes();
    b.push_back(0);
    check_refused(b, "trailing bytes: 1 after the message ends at offset 180");
  }
  SUBCASE("unknown version") {
    for (std::uint8_t v : {0, 2, 255}) {
      Bytes b = base;
      b[0] = v;
      check_refused(b, "unknown version " + std::to_string(v) + " (expected 1)");
    }
  }
  SUBCASE("unknown message type") {
    for (std::uint8_t t : {12, 255}) {
      Bytes b = base;
      b[1] = t;
      check_refused(b, "unknown message type " + std::to_string(t) + " (field type at offset 1)");
    }
  }
  SUBCASE("unknown entry type") {
    Bytes b = golden_bytes();
    b[54 + 16] = 3;  // entries[0].type
    check_refused(b, "unknown entry type 3 (field entries[0].type at offset 70)");
  }
  SUBCASE("bool neither 0 nor 1") {
    Bytes b = base;
    b[kRejectAt] = 2;
    check_refused(b, "bad bool: 2 is neither 0 nor 1 (field reject at offset 54)");
    b = base;
    b[kSnapshotPresentAt] = 0x80;
    check_refused(b, "bad bool: 128 is neither 0 nor 1 (field snapshot_present at offset 63)");
  }
  SUBCASE("a length one larger than what remains") {
    Bytes b = base;
    b.push_back('x');
    put_u32(b, kContextLengthAt, 2);
    check_refused(b, "count too large: 2 needs at least 2 bytes, 1 remain (field context");
  }
}

TEST_CASE("codec: huge counts and lengths are refused before allocating") {
  const Bytes golden = golden_bytes();
  // Offsets of each count or length field in the golden vector.
  struct Field {
    const char* name;
    std::size_t at;
  };
  const Field fields[] = {
      {"field entries at", kEntriesCountAt},
      {"field entries[0].payload", 71},
      {"field entries[1].payload", 94},
      {"field snapshot.voters", 126},
      {"field snapshot.learners", 154},
      {"field snapshot.data", 166},
      {"field context", 174},
  };
  for (const Field& f : fields) {
    for (std::uint32_t claim : {0xffffffffu, 0x80000000u, 0x01000000u}) {
      Bytes b = golden;
      put_u32(b, f.at, claim);
      CAPTURE(f.name);
      CAPTURE(claim);
      Result<Message> m = Message{};
      {
        AllocationWatch watch;
        m = decode_message(b);
      }
      REQUIRE_FALSE(m.ok());
      CHECK(m.error().message.starts_with("count too large: " + std::to_string(claim)));
      CHECK(m.error().message.find(f.name) != std::string::npos);
      // Only the partly decoded message and the error text: far below the
      // gigabytes the claim would have reserved.
      CHECK(g_largest_allocation_bytes.load() < 1024);
      CHECK(g_total_allocation_bytes.load() < 4096);
    }
  }
}

TEST_CASE("codec: every single-byte change is refused or re-encodes to itself") {
  const Bytes golden = golden_bytes();
  std::size_t accepted = 0;
  std::size_t refused = 0;
  std::size_t failures = 0;
  for (std::size_t i = 0; i < golden.size(); ++i) {
    for (int x = 1; x < 256; ++x) {
      Bytes b = golden;
      b[i] ^= std::uint8_t(x);
      std::string problem = canonical_problem(b);
      if (!problem.empty() && failures++ < 5) FAIL_CHECK(problem);
      (decode_message(b).ok() ? accepted : refused) += 1;
    }
  }
  // Both outcomes occur: integers and payload bytes take any value, while
  // the version, types, booleans and lengths mostly do not.
  CHECK(failures == 0);
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

TEST_CASE("codec: random and mutated inputs never crash and never decode non-canonically") {
  Prng prng(20240611);
  std::size_t failures = 0;
  std::size_t accepted = 0;
  auto check = [&](ByteView b) {
    std::string problem = canonical_problem(b);
    if (!problem.empty() && failures++ < 5) FAIL_CHECK(problem);
    if (decode_message(b).ok()) ++accepted;
  };

  // 100,000 random strings; most start with a valid version and type so
  // that they reach the later fields.
  for (int i = 0; i < 100'000; ++i) {
    Bytes b(prng.below(160));
    for (auto& byte : b) byte = std::uint8_t(prng.next());
    if (!b.empty() && prng.chance(90)) b[0] = 1;
    if (b.size() > 1 && prng.chance(90)) b[1] = std::uint8_t(prng.below(13));
    check(b);
  }
  // 20,000 valid encodings with a few bytes changed, cut or added.
  const Bytes golden = golden_bytes();
  for (int i = 0; i < 20'000; ++i) {
    Bytes b = prng.chance(50) ? golden : encode_message(full_message(MessageType(prng.below(12))));
    for (std::uint64_t k = prng.below(4); k > 0; --k) {
      b[prng.below(b.size())] = std::uint8_t(prng.below(4) == 0 ? prng.next() : prng.below(3));
    }
    if (prng.chance(20)) b.resize(prng.below(b.size() + 1));
    if (prng.chance(10)) b.push_back(std::uint8_t(prng.next()));
    check(b);
  }
  CHECK(failures == 0);
  CHECK(accepted > 0);
}
