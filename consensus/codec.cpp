#include "consensus/codec.h"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

// The layout is specified byte by byte in docs/consensus.md, "Wire format";
// change it only together with that section, the golden vector in
// consensus/tests/codec_test.cpp and kFormatVersion.
//
// Every field has exactly one encoding (fixed-width big-endian integers,
// booleans 0 or 1, no padding, nothing after the last field), so a decoder
// that checks each of those rules accepts only what encode_message produces.

namespace custos::consensus {

namespace {

constexpr std::uint8_t kFormatVersion = 1;
// The highest value of each enum on the wire; anything above is unknown.
constexpr auto kLastMessageType = MessageType::timeout_now;
constexpr auto kLastEntryType = EntryType::conf_change;
// Counts and lengths are u32 on the wire.
constexpr std::uint64_t kCountMax = std::numeric_limits<std::uint32_t>::max();
// The fewest bytes one element of each counted list can occupy; a count is
// refused unless count * this fits in what remains, before anything is
// allocated, so memory stays proportional to the input.
constexpr std::uint64_t kEntryBytesMin = 8 + 8 + 1 + 4;  // index, term, type, payload length
constexpr std::uint64_t kNodeIdBytes = 8;

// Encoding something the format cannot represent is a caller's bug, checked
// in every build: silently truncating a count would corrupt the message.
[[noreturn]] void encode_misuse(const char* what) {
  std::fprintf(stderr, "encode_message: %s\n", what);
  std::abort();
}

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(std::uint8_t(v >> shift));
  }
  void u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(std::uint8_t(v >> shift));
  }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void count(std::size_t n) {
    if (n > kCountMax) encode_misuse("a count or length exceeds 2^32-1");
    u32(std::uint32_t(n));
  }
  void bytes(ByteView b) {
    count(b.size());
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void node_ids(const std::vector<NodeId>& ids) {
    count(ids.size());
    for (NodeId id : ids) u64(id);
  }
  Bytes take() { return std::move(out_); }

 private:
  Bytes out_;
};

// Reads fields in order. The first failure is kept and turns every later read
// into a no-op returning zero, so the decoder checks failed() only where it
// would otherwise loop or build on a bad value.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return in_.size() - pos_; }

  // Names the list element being read in error messages ("entries[3].term").
  void set_element(const char* list, std::size_t index) {
    list_ = list;
    index_ = index;
  }
  void clear_element() { list_ = nullptr; }

  void fail(const char* field, const std::string& problem) {
    if (failed()) return;
    error_ = problem + " (field " + name(field) + " at offset " + std::to_string(pos_) + ")";
  }

  std::uint8_t u8(const char* field) {
    if (!need(1, field)) return 0;
    return in_[pos_++];
  }
  std::uint32_t u32(const char* field) { return std::uint32_t(big_endian(4, field)); }
  std::uint64_t u64(const char* field) { return big_endian(8, field); }

  bool boolean(const char* field) {
    std::size_t at = pos_;
    std::uint8_t v = u8(field);
    if (v > 1) {
      pos_ = at;
      fail(field, "bad bool: " + std::to_string(v) + " is neither 0 nor 1");
    }
    return v == 1;
  }

  // A u32 count of elements each at least element_bytes_min long, refused
  // (before the caller allocates anything) if they cannot fit in the rest.
  std::uint32_t count(const char* field, std::uint64_t element_bytes_min) {
    std::size_t at = pos_;
    std::uint32_t n = u32(field);
    if (failed()) return 0;
    std::uint64_t bytes_min = std::uint64_t(n) * element_bytes_min;  // < 2^37, no overflow
    if (bytes_min > remaining()) {
      std::size_t rest = remaining();
      pos_ = at;
      fail(field, "count too large: " + std::to_string(n) + " needs at least " +
                      std::to_string(bytes_min) + " bytes, " + std::to_string(rest) + " remain");
      return 0;
    }
    return n;
  }

  // A one-byte enum value, refused above `last`.
  std::uint8_t enum_value(const char* field, std::uint8_t last, const char* kind) {
    std::size_t at = pos_;
    std::uint8_t v = u8(field);
    if (v > last) {
      pos_ = at;
      fail(field, std::string("unknown ") + kind + " " + std::to_string(v));
    }
    return v;
  }

  Bytes bytes(const char* field) {
    std::uint32_t n = count(field, 1);
    if (failed()) return {};
    ByteView b = in_.subspan(pos_, n);
    pos_ += n;
    return Bytes(b.begin(), b.end());
  }

  std::vector<NodeId> node_ids(const char* field) {
    std::uint32_t n = count(field, kNodeIdBytes);
    std::vector<NodeId> ids;
    ids.reserve(n);
    for (std::uint32_t i = 0; i < n && !failed(); ++i) ids.push_back(u64(field));
    return ids;
  }

 private:
  bool need(std::size_t n, const char* field) {
    if (failed()) return false;
    if (remaining() >= n) return true;
    fail(field, "truncated: needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                    " remain");
    return false;
  }
  std::uint64_t big_endian(std::size_t width, const char* field) {
    if (!need(width, field)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }
  std::string name(const char* field) const {
    if (list_ == nullptr) return field;
    return std::string(list_) + "[" + std::to_string(index_) + "]." + field;
  }

  ByteView in_;
  std::size_t pos_ = 0;
  std::string error_;
  const char* list_ = nullptr;
  std::size_t index_ = 0;
};

}  // namespace

Bytes encode_message(const Message& m) {
  if (m.type > kLastMessageType) encode_misuse("unknown MessageType value");
  Writer w;
  w.u8(kFormatVersion);
  w.u8(std::uint8_t(m.type));
  w.u64(m.from);
  w.u64(m.to);
  w.u64(m.term);
  w.u64(m.index);
  w.u64(m.log_term);
  w.u64(m.commit);
  w.count(m.entries.size());
  for (const Entry& e : m.entries) {
    if (e.type > kLastEntryType) encode_misuse("unknown EntryType value");
    w.u64(e.index);
    w.u64(e.term);
    w.u8(std::uint8_t(e.type));
    w.bytes(e.payload);
  }
  w.boolean(m.reject);
  w.u64(m.reject_hint);
  w.boolean(m.snapshot.has_value());
  if (m.snapshot) {
    const Snapshot& s = *m.snapshot;
    w.u64(s.meta.index);
    w.u64(s.meta.term);
    w.node_ids(s.meta.conf.voters);
    w.node_ids(s.meta.conf.learners);
    w.bytes(s.data);
  }
  w.bytes(m.context);
  return w.take();
}

Result<Message> decode_message(ByteView bytes) {
  Reader r(bytes);
  Message m;

  // Checked first and alone: a later version may change everything after it.
  std::uint8_t version = r.u8("version");
  if (!r.failed() && version != kFormatVersion) {
    return make_error("bad_message", "unknown version " + std::to_string(version) + " (expected " +
                                         std::to_string(kFormatVersion) + ")");
  }
  m.type = MessageType(r.enum_value("type", std::uint8_t(kLastMessageType), "message type"));
  m.from = r.u64("from");
  m.to = r.u64("to");
  m.term = r.u64("term");
  m.index = r.u64("index");
  m.log_term = r.u64("log_term");
  m.commit = r.u64("commit");

  std::uint32_t entries = r.count("entries", kEntryBytesMin);
  m.entries.reserve(entries);
  for (std::uint32_t i = 0; i < entries && !r.failed(); ++i) {
    r.set_element("entries", i);
    Entry& e = m.entries.emplace_back();
    e.index = r.u64("index");
    e.term = r.u64("term");
    e.type = EntryType(r.enum_value("type", std::uint8_t(kLastEntryType), "entry type"));
    e.payload = r.bytes("payload");
  }
  r.clear_element();

  m.reject = r.boolean("reject");
  m.reject_hint = r.u64("reject_hint");
  if (r.boolean("snapshot_present")) {
    Snapshot& s = m.snapshot.emplace();
    s.meta.index = r.u64("snapshot.index");
    s.meta.term = r.u64("snapshot.term");
    s.meta.conf.voters = r.node_ids("snapshot.voters");
    s.meta.conf.learners = r.node_ids("snapshot.learners");
    s.data = r.bytes("snapshot.data");
  }
  m.context = r.bytes("context");

  if (!r.failed() && r.remaining() != 0) {
    return make_error("bad_message", "trailing bytes: " + std::to_string(r.remaining()) +
                                         " after the message ends at offset " +
                                         std::to_string(r.offset()));
  }
  if (r.failed()) return make_error("bad_message", r.error());
  return m;
}

}  // namespace custos::consensus
