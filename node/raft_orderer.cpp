#include "node/raft_orderer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "consensus/codec.h"
#include "node/node.h"

namespace custos::node {
namespace {

using consensus::Entry;
using consensus::EntryType;
using consensus::Role;

// The first byte of every frame between nodes says what follows.
enum class FrameKind : std::uint8_t {
  raft = 1,            // consensus::encode_message
  forward_tx = 2,      // a transaction's JSON envelope, for the leader's mempool
  block_request = 3,   // be64 from, be64 to: blocks for a node catching up
  block_reply = 4,     // a JSON array of blocks, oldest first
  head_signature = 5,  // version (1 byte, 1) | be64 height | 64-byte compact signature
};

// head_signature frames: the sender's node id is the authenticated peer's
// name, so the body carries only the height and the signature.
constexpr std::uint8_t kHeadSignatureVersion = 1;
constexpr std::size_t kHeadSignatureBodyBytes = 1 + 8 + 64;
constexpr auto kHeadSignatureResend = std::chrono::seconds(2);

// A Raft log write that takes this long is a disk the whole network waits on.
constexpr auto kSlowLogSync = std::chrono::milliseconds(100);
constexpr auto kSlowLogSyncReport = std::chrono::seconds(10);

// Bounds of the consensus thread's inputs and of block catch-up.
constexpr std::size_t kInboxFramesMax = 20'000;  // beyond: oldest dropped (Raft retransmits)
constexpr std::size_t kForwardedTxsMax = 20'000;
constexpr auto kForwardedKeep = std::chrono::seconds(60);
constexpr auto kForwardedResend = std::chrono::seconds(3);  // not committed yet: send again
constexpr std::size_t kBlockReplyBlocksMax = 64;
constexpr std::size_t kBlockReplyBytesMax = 8 << 20;
constexpr auto kBlockReplyWait = std::chrono::seconds(2);
constexpr int kBlockFetchAttemptsMax = 300;
constexpr std::uint64_t kEntryBytesSlack = 64 << 10;  // block JSON beyond the mempool's estimate
// How long the apply thread waits for the prepare thread to finish a block
// before decoding it itself (the prepare thread is behind on a backlog).
constexpr auto kPreparedWait = std::chrono::milliseconds(500);

Bytes frame(FrameKind kind, std::string_view body) {
  Bytes out;
  out.reserve(body.size() + 1);
  out.push_back(static_cast<std::uint8_t>(kind));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes frame(FrameKind kind, const Bytes& body) {
  return frame(kind, std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
}

std::string_view text_of(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void log_line(const std::string& node, const std::string& what) {
  std::fprintf(stderr, "custos-node %s: %s\n", node.c_str(), what.c_str());
  std::fflush(stderr);
}

[[noreturn]] void fatal(const std::string& node, const std::string& what) {
  log_line(node, "FATAL: " + what);
  std::abort();
}

// The snapshot's data: the ledger height and block the compacted log led to.
Bytes snapshot_data(const ledger::Head& head) {
  Json j = {{"height", head.height}, {"block_hash", head.block_hash.hex()}};
  std::string text = j.dump();
  return Bytes(text.begin(), text.end());
}

struct SnapshotPoint {
  std::uint64_t height = 0;
  Hash256 block_hash;
};

Result<SnapshotPoint> parse_snapshot_data(const Bytes& data) {
  auto j = parse_json_strict(text_of(data));
  if (!j || !j->is_object() || !(*j)["height"].is_number_integer() ||
      (*j)["height"].get<std::int64_t>() < 0 || !(*j)["block_hash"].is_string()) {
    return make_error("bad_snapshot", "snapshot data is not {height, block_hash}");
  }
  auto hash = Hash256::from_hex((*j)["block_hash"].get<std::string>());
  if (!hash) return make_error("bad_snapshot", "snapshot block_hash is not a hash");
  return SnapshotPoint{(*j)["height"].get<std::uint64_t>(), *hash};
}

Result<Block> decode_block(ByteView payload, std::vector<Hash256>& tx_ids) {
  auto j = parse_json_strict(text_of(payload));
  if (!j) return j.error();
  return block_from_json(*j, &tx_ids);
}

std::vector<consensus::NodeId> ids_of(const RaftSettings& raft, bool learners) {
  std::vector<consensus::NodeId> ids;
  for (const auto& p : raft.peers) {
    if (p.learner == learners) ids.push_back(p.id);
  }
  return ids;
}

}  // namespace

Result<std::unique_ptr<RaftOrderer>> RaftOrderer::open(
    const NodeConfig& config, std::string network_id, const ledger::Ledger& ledger,
    BlockApplier& applier, AdmitForwarded admit_forwarded,
    HeadSignatureReceived head_signature_received) {
  auto storage = RaftStorage::open(config.data_dir / "raft");
  if (!storage) return storage.error();
  std::unique_ptr<RaftOrderer> o(
      new RaftOrderer(config, std::move(network_id), ledger, applier, std::move(admit_forwarded),
                      std::move(head_signature_received), std::move(storage).value()));
  TransportConfig tc;
  tc.self = config.raft.id;
  tc.network_id = o->network_id_;
  const RaftPeer* self = config.raft.peer(config.raft.id);
  tc.listen_host = self->address.host;
  tc.listen_port = self->address.port;
  tc.tls = config.raft.tls;
  auto transport = Transport::create(
      tc, [raw = o.get()](PeerId from, Bytes f) { raw->on_frame(from, std::move(f)); });
  if (!transport) return transport.error();
  o->transport_ = std::move(transport).value();
  for (const auto& p : config.raft.peers) {
    if (p.id != config.raft.id) o->transport_->set_peer(p.id, p.address);
  }
  return o;
}

RaftOrderer::RaftOrderer(const NodeConfig& config, std::string network_id,
                         const ledger::Ledger& ledger, BlockApplier& applier,
                         AdmitForwarded admit_forwarded,
                         HeadSignatureReceived head_signature_received,
                         std::unique_ptr<RaftStorage> storage)
    : config_(config),
      network_id_(std::move(network_id)),
      ledger_(ledger),
      applier_(applier),
      admit_forwarded_(std::move(admit_forwarded)),
      head_signature_received_(std::move(head_signature_received)),
      storage_(std::move(storage)),
      mempool_(config.mempool, [this](const Hash256& id) { return ledger_.has_tx(id); }) {
  consensus::Config rc;
  rc.id = config_.raft.id;
  rc.voters = ids_of(config_.raft, false);
  rc.learners = ids_of(config_.raft, true);
  rc.election_ticks = config_.raft.election_ticks;
  rc.heartbeat_ticks = config_.raft.heartbeat_ticks;
  rc.entry_bytes_max =
      std::max<std::uint64_t>(rc.entry_bytes_max, config_.block.bytes_max * 2 + kEntryBytesSlack);
  rc.msg_bytes_max = std::max(rc.msg_bytes_max, rc.entry_bytes_max);
  rc.uncommitted_bytes_max = config_.raft.uncommitted_bytes_max;
  // Every block before the snapshot is in the ledger; entries after it are
  // applied again on restart and skipped if their block is already there.
  rc.applied = storage_->snapshot().meta.index;
  rc.seed = std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32);
  raft_ = std::make_unique<consensus::Raft>(rc, storage_.get());
  applied_index_ = rc.applied;
  status_.role = "follower";
  status_.members = rc.voters.size();
  status_.learners = rc.learners.size();
}

RaftOrderer::~RaftOrderer() {
  stop();
}

// ---------------------------------------------------------------- public API

Status RaftOrderer::submit(const Transaction& tx, const Hash256& tx_id) {
  std::string leader;
  bool is_leader = false;
  {
    std::lock_guard lock(status_mu_);
    is_leader = status_.role == "leader";
    leader = status_.leader;
  }
  if (is_leader) {
    if (auto s = mempool_.add(tx, tx_id); !s) return s;
    std::lock_guard lock(in_mu_);
    kick_ = true;
    in_cv_.notify_one();
    return ok_status();
  }
  if (leader.empty()) {
    return make_error("no_leader", "no leader is known (an election is under way); retry shortly");
  }
  // Queue for forwarding by the consensus thread, which knows the leader's id
  // and forwards again if the leader changes before the tx commits.
  {
    std::lock_guard lock(in_mu_);
    if (forwarded_.size() >= kForwardedTxsMax) {
      return make_error("mempool_full", "too many transactions are waiting for the leader");
    }
    if (forwarded_.contains(tx_id)) {
      return make_error("duplicate", "transaction is already being forwarded");
    }
    forwarded_.emplace(tx_id, Forwarded{tx, Clock::now()});
    unsent_.push_back(tx_id);
    kick_ = true;
  }
  in_cv_.notify_one();
  return ok_status();
}

Status RaftOrderer::start() {
  if (running_) return ok_status();
  auto port = transport_->start();
  if (!port) return port.error();
  transport_port_ = *port;
  running_ = true;
  apply_thread_ = std::thread([this] {
    name_this_thread("custos-apply");
    run_applies();
  });
  thread_ = std::thread([this] {
    name_this_thread("custos-raft");
    run();
  });
  return ok_status();
}

void RaftOrderer::stop() {
  if (!running_) {
    if (transport_) transport_->stop();
    worker_.stop();
    preparer_.stop();
    return;
  }
  // A leader that stops cleanly hands over first, so the network does not
  // wait an election timeout for a new one (rolling restarts).
  if (role() == "leader" && config_.raft.peers.size() > 1) {
    {
      std::lock_guard lock(in_mu_);
      transfer_requested_ = true;
    }
    in_cv_.notify_one();
    auto deadline = Clock::now() +
                    std::chrono::milliseconds(config_.raft.tick_ms * config_.raft.election_ticks);
    while (Clock::now() < deadline && role() == "leader") {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  {
    std::lock_guard lock(in_mu_);
    stopping_ = true;
  }
  in_cv_.notify_all();
  {
    std::lock_guard lock(apply_mu_);  // so that a queue_apply() waiting for room sees stopping_
  }
  apply_done_cv_.notify_all();
  mempool_.close();
  if (thread_.joinable()) thread_.join();
  // The block being applied is finished; the queued entries are not: they
  // are in the Raft log, past what the ledger has applied, and a restart
  // applies them again.
  {
    std::lock_guard lock(apply_mu_);
    apply_stopping_ = true;
    apply_jobs_.clear();
  }
  apply_cv_.notify_all();
  if (apply_thread_.joinable()) apply_thread_.join();
  sync_ledger();
  transport_->stop();
  worker_.stop();
  preparer_.stop();
  {
    std::lock_guard lock(status_mu_);
    status_.role = "stopped";
    status_.leader.clear();
  }
  {
    std::lock_guard lock(read_mu_);
    running_ = false;
  }
  read_cv_.notify_all();
}

std::string RaftOrderer::role() const {
  std::lock_guard lock(status_mu_);
  return status_.role;
}

std::size_t RaftOrderer::pending_txs() const {
  std::lock_guard lock(in_mu_);
  return mempool_.size() + forwarded_.size();
}

ConsensusStatus RaftOrderer::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

Status RaftOrderer::read_barrier(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::uint64_t id = 0;
  {
    std::lock_guard lock(read_mu_);
    id = next_read_id_++;
    reads_[id] = ReadWait{};
  }
  {
    std::lock_guard lock(in_mu_);
    read_requests_.push_back(id);
  }
  in_cv_.notify_one();
  std::unique_lock lock(read_mu_);
  bool done = read_cv_.wait_until(lock, deadline, [&] {
    const ReadWait& w = reads_[id];
    return w.failed || (w.index != 0 && applied_index_.load() >= w.index) || !running_;
  });
  ReadWait w = reads_[id];
  reads_.erase(id);
  if (w.failed)
    return make_error("no_leader", "no leader is known to confirm the read; retry shortly");
  if (!done || w.index == 0 || !running_) {
    return make_error("timeout", "the leader did not confirm the read in time");
  }
  return ok_status();
}

// ---------------------------------------------------------------- transport thread

void RaftOrderer::on_frame(PeerId from, Bytes f) {
  if (f.empty()) {
    malformed_frames_++;
    return;
  }
  auto kind = static_cast<FrameKind>(f[0]);
  ByteView body(f.data() + 1, f.size() - 1);
  switch (kind) {
    case FrameKind::raft:
    case FrameKind::block_reply: {
      {
        std::lock_guard lock(in_mu_);
        auto& q = kind == FrameKind::raft ? inbox_ : block_replies_;
        if (q.size() >= kInboxFramesMax) q.pop_front();
        q.push_back(Inbound{from, std::move(f)});
      }
      in_cv_.notify_one();
      return;
    }
    case FrameKind::forward_tx: {
      // Parsing, signature checks and ledger reads: not on the I/O thread.
      // A full worker sheds the job; the follower sends it again.
      worker_.post([this, f = std::move(f)] {
        auto tx = tx_parse(text_of(ByteView(f).subspan(1)));
        if (tx) admit_forwarded_(*tx, tx->id());
      });
      return;
    }
    case FrameKind::block_request:
      if (body.size() == 16) {
        worker_.post([this, from, lo = read_be64(body.first(8)), hi = read_be64(body.subspan(8))] {
          serve_block_request(from, lo, hi);
        });
      } else {
        malformed_frames_++;
      }
      return;
    case FrameKind::head_signature: {
      if (body.size() != kHeadSignatureBodyBytes || body[0] != kHeadSignatureVersion) {
        malformed_frames_++;
        return;
      }
      HeadSignature sig;
      std::uint64_t height = read_be64(body.subspan(1, 8));
      std::copy(body.begin() + 9, body.end(), sig.signature.compact.begin());
      // Checking it costs ledger reads and an ECDSA verification: off the
      // I/O thread. A full worker sheds it; the peer sends it again.
      worker_.post([this, from, height, sig = std::move(sig)]() mutable {
        sig.node_id = peer_name(from);
        if (sig.node_id.empty()) {
          malformed_frames_++;
          return;
        }
        if (head_signature_received_) head_signature_received_(height, std::move(sig));
      });
      return;
    }
  }
  malformed_frames_++;  // an unknown kind
}

std::string RaftOrderer::peer_name(PeerId id) const {
  if (const RaftPeer* p = config_.raft.peer(id)) return p->name;
  std::lock_guard lock(status_mu_);
  if (auto it = names_.find(id); it != names_.end()) return it->second;
  return {};
}

void RaftOrderer::gossip_head_signature(std::uint64_t height, const HeadSignature& sig) {
  {
    std::lock_guard lock(gossip_mu_);
    if (gossip_last_ && gossip_last_->first > height) return;
    gossip_last_ = std::make_pair(height, sig.signature);
  }
  send_head_signature(height, sig.signature);
}

void RaftOrderer::send_head_signature(std::uint64_t height, const Signature& sig) {
  Bytes body;
  body.reserve(kHeadSignatureBodyBytes);
  body.push_back(kHeadSignatureVersion);
  append_be64(body, height);
  body.insert(body.end(), sig.compact.begin(), sig.compact.end());
  std::vector<PeerId> to;
  for (const auto& p : config_.raft.peers) {
    if (p.id != config_.raft.id) to.push_back(p.id);
  }
  {
    std::lock_guard lock(status_mu_);
    for (const auto& [id, name] : names_) {
      if (id != config_.raft.id && !config_.raft.peer(id)) to.push_back(id);
    }
  }
  for (PeerId id : to) transport_->send(id, frame(FrameKind::head_signature, body));
}

void RaftOrderer::serve_block_request(PeerId from, std::uint64_t lo, std::uint64_t hi) {
  auto head = ledger_.head();
  if (!head || lo == 0 || lo > hi) return;
  hi = std::min(hi, head->height);
  std::vector<std::string> blocks;
  std::size_t bytes = 0;
  for (std::uint64_t h = lo; h <= hi && blocks.size() < kBlockReplyBlocksMax; ++h) {
    auto b = ledger_.block(h);
    if (!b) break;
    std::string text = b->to_json().dump();
    if (!blocks.empty() && bytes + text.size() > kBlockReplyBytesMax) break;
    bytes += text.size();
    blocks.push_back(std::move(text));
  }
  std::string reply = "[";
  for (std::size_t i = 0; i < blocks.size(); ++i) reply += (i ? "," : "") + blocks[i];
  reply += "]";
  transport_->send(from, frame(FrameKind::block_reply, reply));
}

// ---------------------------------------------------------------- consensus thread

void RaftOrderer::run() {
  const auto tick = std::chrono::milliseconds(config_.raft.tick_ms);
  // A snapshot persisted before a crash names blocks the ledger must hold.
  if (auto snap = storage_->snapshot(); !snap.empty() && !install_snapshot(snap)) return;
  auto next_tick = Clock::now() + tick;
  for (;;) {
    std::deque<Inbound> inbox;
    std::deque<std::uint64_t> reads;
    {
      std::unique_lock lock(in_mu_);
      auto wake = next_tick;
      if (can_propose()) {
        if (auto at = mempool_.ready_at(config_.block)) wake = std::min(wake, *at);
      }
      in_cv_.wait_until(lock, wake, [&] {
        return stopping_ || kick_ || transfer_requested_ || !inbox_.empty() ||
               !read_requests_.empty();
      });
      if (stopping_) break;
      kick_ = false;
      inbox.swap(inbox_);
      reads.swap(read_requests_);
    }
    for (auto& in : inbox) {
      auto m = consensus::decode_message(ByteView(in.frame).subspan(1));
      // A frame is accepted only from the peer it claims to come from.
      if (!m || m->from != in.from || m->to != config_.raft.id) {
        if (!m) malformed_frames_++;
        continue;
      }
      raft_->step(*m);
    }
    for (std::uint64_t id : reads) {
      Bytes ctx;
      append_be64(ctx, id);
      if (auto s = raft_->read_index(ctx); !s) {
        std::lock_guard lock(read_mu_);
        if (auto it = reads_.find(id); it != reads_.end()) it->second.failed = true;
        read_cv_.notify_all();
      }
    }
    auto now = Clock::now();
    if (now >= next_tick) {
      raft_->tick();
      next_tick += tick;
      if (next_tick < now) next_tick = now + tick;  // after a long apply, do not tick in a burst
    }
    if (now >= gossip_next_) {
      gossip_next_ = now + kHeadSignatureResend;
      std::optional<std::pair<std::uint64_t, Signature>> last;
      {
        std::lock_guard lock(gossip_mu_);
        last = gossip_last_;
      }
      if (last) send_head_signature(last->first, last->second);
    }
    publish_status();  // so that submit() sees a role change at once
    if (transfer_requested_.exchange(false)) hand_over_leadership();
    forward_pending();
    maybe_propose_block();
    while (raft_->has_ready()) {
      if (!handle_ready()) return;  // stopping during a snapshot install
    }
    settle_proposal();
    maybe_compact();
    publish_status();
  }
  publish_status();
}

bool RaftOrderer::handle_ready() {
  consensus::Ready rd = raft_->ready();
  if (rd.snapshot) {
    // The blocks before it come from peers, applied here: after the queued
    // ones. They must be durable before the log stops holding their entries.
    if (!drain_applies()) return false;
    const bool installed = install_snapshot(*rd.snapshot);
    resume_applies();
    if (!installed) return false;
    sync_ledger();
  }
  // A leader's appends and heartbeats promise nothing about its own log, so
  // they go out before it is written: the followers write theirs while the
  // leader writes its own, and a block commits after one fsync's time, not
  // two (Raft thesis §10.2.1). The leader's acknowledgement of its own
  // entries is counted only by the thread that is writing them, after the
  // write. Everything else (votes, a follower's acknowledgements, a new term
  // or vote) waits for the write, as the persistence contract requires.
  const bool early = raft_->role() == consensus::Role::leader && !rd.snapshot &&
                     !storage_->changes_term_or_vote(rd.hard_state);
  auto send = [&](bool before_write) {
    for (const auto& m : rd.messages) {
      const bool promises_nothing = early && (m.type == consensus::MessageType::append ||
                                              m.type == consensus::MessageType::heartbeat);
      if (promises_nothing != before_write) continue;
      transport_->send(m.to, frame(FrameKind::raft, consensus::encode_message(m)));
    }
  };
  send(true);
  // A follower's new entries are the leader's blocks: decoded and their
  // signatures verified on the prepare thread while this one writes them.
  if (raft_->role() != consensus::Role::leader) {
    for (const Entry& e : rd.entries) prepare_entry(e);
  }
  persist(rd);
  if (rd.snapshot && rd.snapshot->meta.index > ledger_applied())
    set_applied(rd.snapshot->meta.index);
  send(false);
  // Not moved out: advance() counts the committed payloads' bytes (the
  // leader's uncommitted_bytes_max); moved, they would never count as committed.
  for (const Entry& e : rd.committed_entries) {
    if (!queue_apply(e)) return false;
  }
  if (!rd.read_states.empty()) {
    std::lock_guard lock(read_mu_);
    for (const auto& rs : rd.read_states) {
      if (rs.context.size() != 8) continue;
      if (auto it = reads_.find(read_be64(rs.context)); it != reads_.end()) {
        it->second.index = std::max<std::uint64_t>(rs.index, 1);
      }
    }
  }
  raft_->advance(rd);
  return true;
}

void RaftOrderer::persist(const consensus::Ready& rd) {
  const auto start = std::chrono::steady_clock::now();
  if (!storage_->save(rd.snapshot, rd.entries, rd.hard_state)) return;  // nothing, or not synced
  const auto now = std::chrono::steady_clock::now();
  const auto took = now - start;
  log_syncs_++;
  log_sync_us_ += std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  if (took < kSlowLogSync) return;
  log_syncs_slow_++;
  slow_unreported_++;
  if (now - slow_reported_ < kSlowLogSyncReport) return;
  log_line(config_.node_id,
           "slow disk: writing the Raft log took " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
               " ms (" + std::to_string(slow_unreported_) + " write(s) of " +
               std::to_string(kSlowLogSync.count()) + " ms or more since the last report)");
  slow_unreported_ = 0;
  slow_reported_ = now;
}

Orderer::LogSyncStats RaftOrderer::log_sync_stats() const {
  return {log_syncs_.load(), log_sync_us_.load(), log_syncs_slow_.load()};
}

bool RaftOrderer::queue_apply(const Entry& entry) {
  {
    std::unique_lock lock(apply_mu_);
    apply_done_cv_.wait(lock, [&] { return stopping_ || apply_jobs_.size() < kApplyJobsMax; });
    if (stopping_) return false;
    apply_jobs_.push_back(entry);
  }
  apply_cv_.notify_one();
  return true;
}

bool RaftOrderer::drain_applies() {
  std::unique_lock lock(apply_mu_);
  apply_done_cv_.wait(lock, [&] { return stopping_ || (apply_jobs_.empty() && !apply_busy_); });
  installing_ = true;  // and no execution ahead starts until resume_applies()
  return !stopping_;
}

void RaftOrderer::resume_applies() {
  {
    std::lock_guard lock(apply_mu_);
    installing_ = false;
    look_ahead_ = true;
  }
  apply_cv_.notify_one();
}

void RaftOrderer::run_applies() {
  for (;;) {
    std::optional<Entry> entry;
    {
      std::unique_lock lock(apply_mu_);
      apply_cv_.wait(lock, [&] {
        return apply_stopping_ || !apply_jobs_.empty() || (look_ahead_ && !installing_);
      });
      if (apply_stopping_) return;
      if (!apply_jobs_.empty()) {
        entry = std::move(apply_jobs_.front());
        apply_jobs_.pop_front();
      } else {
        look_ahead_ = false;
      }
      // Busy while executing ahead too: a snapshot install waits for it.
      apply_busy_ = true;
    }
    if (entry) {
      apply_entry(*entry);
      set_applied(entry->index);
    } else {
      execute_ahead();
    }
    {
      std::lock_guard lock(apply_mu_);
      apply_busy_ = false;
      // The next block may have been prepared meanwhile, or now extend the head.
      if (entry) look_ahead_ = true;
    }
    apply_done_cv_.notify_all();
  }
}

void RaftOrderer::set_applied(std::uint64_t index) {
  {
    // Under read_mu_, so that a read_barrier() between its check and its
    // wait cannot miss this.
    std::lock_guard lock(read_mu_);
    applied_index_ = index;
  }
  read_cv_.notify_all();
  {
    // The leader may cut its next block, a proposal may be settled.
    std::lock_guard lock(in_mu_);
    kick_ = true;
  }
  in_cv_.notify_one();
}

void RaftOrderer::prepare_entry(const Entry& entry) {
  if (entry.type != EntryType::normal || entry.payload.empty()) return;
  const std::uint64_t index = entry.index;
  const std::uint64_t term = entry.term;
  // Full: the apply thread decodes the block itself, as it would without.
  if (!prepared_.begin(index, term, entry.payload.size())) return;
  bool posted = preparer_.post([this, index, term, payload = entry.payload] {
    // Overwritten by a new leader, or given up by the apply thread.
    if (!prepared_.wanted(index, term)) return;
    std::vector<Hash256> ids;
    auto block = decode_block(payload, ids);
    if (!block) {
      prepared_.finish(index, term, std::nullopt);
      return;
    }
    applier_.prepare(*block, ids);
    prepared_.finish(index, term, PreparedBlocks::Ready{std::move(block).value(), std::move(ids)});
    look_ahead();
  });
  if (!posted) prepared_.cancel(index, term);
}

void RaftOrderer::look_ahead() {
  {
    std::lock_guard lock(apply_mu_);
    look_ahead_ = true;
  }
  apply_cv_.notify_one();
}

void RaftOrderer::execute_ahead() {
  // Entries up to the applied one (a snapshot may skip past) are done with.
  if (ahead_ && ahead_->index <= ledger_applied()) ahead_.reset();
  if (!ahead_) {
    auto next = prepared_.take_next_after(ledger_applied());
    if (!next) return;
    ahead_ = Ahead{next->index, next->term, std::move(next->ready.block),
                   std::move(next->ready.ids), nullptr, Hash256{}};
  }
  auto head = ledger_.head();
  if (ahead_->executed && ahead_->on_head == head->block_hash) return;
  // Not the block after this head (yet, or ever): apply_entry decides.
  if (check_extends(network_id_, ahead_->block.header, *head)) return;
  block_executions_ahead_++;
  ahead_->executed = applier_.execute(ahead_->block, ahead_->ids);
  ahead_->on_head = head->block_hash;
}

void RaftOrderer::apply_entry(const Entry& entry) {
  if (entry.type == EntryType::conf_change) {
    auto cc = consensus::decode_conf_change(entry.payload);
    if (!cc) return;
    if (cc->type == consensus::ConfChangeType::remove_node) {
      if (cc->node != config_.raft.id) transport_->remove_peer(cc->node);
      return;
    }
    // The context names the new member: {"name", "host", "port"}.
    auto j = parse_json_strict(text_of(cc->context));
    if (j && j->is_object() && (*j)["host"].is_string() && (*j)["port"].is_number_integer() &&
        cc->node != config_.raft.id) {
      transport_->set_peer(cc->node,
                           PeerAddress{(*j)["host"].get<std::string>(), (*j)["port"].get<int>()});
      if ((*j)["name"].is_string()) {
        std::lock_guard lock(status_mu_);
        names_[cc->node] = (*j)["name"].get<std::string>();
      }
    }
    return;
  }
  if (entry.type != EntryType::normal) return;
  std::vector<Hash256> ids;
  std::optional<Block> ready;
  // The block executed ahead is this entry's (same index and term), or
  // was overwritten by a new leader's.
  std::unique_ptr<ledger::StagedBlock> executed;
  Hash256 executed_on;
  if (ahead_ && ahead_->index <= entry.index) {
    if (ahead_->index == entry.index && ahead_->term == entry.term) {
      ready = std::move(ahead_->block);
      ids = std::move(ahead_->ids);
      executed = std::move(ahead_->executed);
      executed_on = ahead_->on_head;
    }
    ahead_.reset();
  }
  if (ready) {
    prepared_.take(entry.index, entry.term, std::chrono::milliseconds(0));  // forgets older ones
    blocks_prepared_++;
  } else if (auto prepared = prepared_.take(entry.index, entry.term, kPreparedWait)) {
    ready = std::move(prepared->block);
    ids = std::move(prepared->ids);
    blocks_prepared_++;
  } else {
    blocks_unprepared_++;
  }
  Result<Block> block =
      ready ? Result<Block>(std::move(*ready)) : decode_block(entry.payload, ids);
  if (!block) {
    log_line(config_.node_id, "skipping log entry " + std::to_string(entry.index) +
                                  ": not a block: " + block.error().message);
    return;
  }
  const BlockHeader& h = block->header;
  auto head = ledger_.head();
  if (h.height <= head->height) {
    // Applied before a restart (the ledger is ahead of the Raft snapshot).
    auto stored = ledger_.block_header(h.height);
    if (!stored || stored->hash() != h.hash()) {
      log_line(config_.node_id, "skipping log entry " + std::to_string(entry.index) +
                                    ": a stale block for height " + std::to_string(h.height));
    }
    return;
  }
  if (auto why = check_extends(network_id_, h, *head); why == "chain") {
    log_line(config_.node_id, "skipping log entry " + std::to_string(entry.index) + ": block " +
                                  std::to_string(h.height) + " does not extend the ledger head");
    return;
  } else if (why) {
    fatal(config_.node_id,
          "block " + std::to_string(h.height) + " from " + h.proposer + " names results " +
              h.prev_results_hash.hex() + ", log " + std::to_string(h.prev_log_size) + "/" +
              h.prev_log_root.hex() + ", state " + h.prev_state_root.hex() + " for block " +
              std::to_string(head->height) + "; this node computed " + head->results_hash.hex() +
              ", " + std::to_string(head->log_size) + "/" + head->log_root.hex() + ", " +
              head->state_root.hex() + ": this node's state has diverged");
  }
  if (executed && executed_on == head->block_hash) {
    blocks_executed_ahead_++;
    applier_.commit(*block, *executed);
  } else {
    applier_.apply(*block, ids);
  }
  mempool_.forget(ids);
  std::lock_guard lock(in_mu_);
  for (const auto& id : ids) forwarded_.erase(id);
}

void RaftOrderer::sync_ledger() {
  if (auto s = ledger_.sync(); !s)
    fatal(config_.node_id, "cannot sync the ledger: " + s.error().message);
}

bool RaftOrderer::install_snapshot(const consensus::Snapshot& snap) {
  auto point = parse_snapshot_data(snap.data);
  if (!point) fatal(config_.node_id, point.error().message);
  auto head = ledger_.head();
  if (head->height < point->height) {
    log_line(config_.node_id, "catching up by snapshot: fetching blocks " +
                                  std::to_string(head->height + 1) + ".." +
                                  std::to_string(point->height));
    if (!fetch_blocks_to(point->height, point->block_hash)) {
      // Stopping (or no peer could serve): do not persist the snapshot.
      if (!stopping_) fatal(config_.node_id, "could not fetch the blocks of a snapshot");
      return false;
    }
  }
  auto at = ledger_.block_header(point->height);
  if (!at || at->hash() != point->block_hash) {
    fatal(config_.node_id, "the ledger's block " + std::to_string(point->height) +
                               " differs from the snapshot's: this node's ledger has diverged");
  }
  return true;
}

bool RaftOrderer::fetch_blocks_to(std::uint64_t height, const Hash256& block_hash) {
  std::vector<PeerId> peers;
  for (const auto& p : config_.raft.peers) {
    if (p.id != config_.raft.id) peers.push_back(p.id);
  }
  if (peers.empty()) return false;
  std::size_t next_peer = 0;
  for (int attempt = 0; attempt < kBlockFetchAttemptsMax; ++attempt) {
    auto head = ledger_.head();
    if (head->height >= height) return ledger_.block_header(height)->hash() == block_hash;
    PeerId peer = raft_->leader() != consensus::kNoNode && raft_->leader() != config_.raft.id
                      ? raft_->leader()
                      : peers[next_peer++ % peers.size()];
    if (attempt % 2 == 1) peer = peers[next_peer++ % peers.size()];
    Bytes req;
    append_be64(req, head->height + 1);
    append_be64(req, height);
    transport_->send(peer, frame(FrameKind::block_request, req));
    Inbound reply;
    {
      std::unique_lock lock(in_mu_);
      if (!in_cv_.wait_for(lock, kBlockReplyWait,
                           [&] { return stopping_ || !block_replies_.empty(); })) {
        continue;
      }
      if (stopping_) return false;
      reply = std::move(block_replies_.front());
      block_replies_.pop_front();
    }
    auto blocks = parse_json_strict(text_of(ByteView(reply.frame).subspan(1)));
    if (!blocks || !blocks->is_array()) continue;
    for (const Json& j : *blocks) {
      std::vector<Hash256> ids;
      auto b = block_from_json(j, &ids);
      if (!b) break;
      head = ledger_.head();
      if (check_extends(network_id_, b->header, *head) || b->header.height > height) {
        break;  // not the next block of our chain: ask again, maybe elsewhere
      }
      applier_.apply(*b, ids);
    }
  }
  return false;
}

bool RaftOrderer::can_propose() const {
  // The next block names the previous one's hash, results and roots: wait
  // until everything in the log (this term's no-op included) is applied.
  // (Cutting it on the head the previous block makes once executed ahead,
  // before that block commits, was tried and did not pay on one machine:
  // docs/perf-history.md, fourteenth session.)
  return raft_->role() == Role::leader && ledger_applied() >= raft_->last_index() && !proposed_ &&
         Clock::now() >= transfer_until_;
}

void RaftOrderer::maybe_propose_block() {
  if (!can_propose()) return;
  auto batch = mempool_.take_ready(config_.block, false);
  if (batch.empty()) return;
  auto head = ledger_.head();
  std::vector<Transaction> txs;
  std::vector<Hash256> ids;
  txs.reserve(batch.size());
  ids.reserve(batch.size());
  for (const auto& [tx, id] : batch) {
    txs.push_back(tx);
    ids.push_back(id);
  }
  Block block =
      next_block(network_id_, *head, wall_clock_ms(), config_.node_id, std::move(txs), &ids);
  std::string text = block.to_json().dump();
  if (auto s = raft_->propose(Bytes(text.begin(), text.end())); !s) {
    // Leadership lost or handed over, or the log is backed up: the
    // transactions wait to be forwarded to whoever leads next.
    log_line(config_.node_id, "block " + std::to_string(block.header.height) +
                                  " not proposed: " + s.error().message);
    std::lock_guard lock(in_mu_);
    for (auto& [tx, id] : batch) {
      mempool_.forget({id});
      requeue(std::move(tx), id);
    }
    return;
  }
  // Applying its own proposal, the leader takes the block as it built it
  // instead of parsing the entry back (an (index, term) names the entry).
  const std::uint64_t index = raft_->last_index();
  const std::uint64_t term = raft_->entry_term(index).value_or(0);
  if (prepared_.begin(index, term, text.size())) {
    prepared_.finish(index, term, PreparedBlocks::Ready{std::move(block), std::move(ids)});
    look_ahead();  // executed while the followers write it
  }
  proposed_ = Proposed{index, std::move(batch)};
}

void RaftOrderer::settle_proposal() {
  if (!proposed_ || ledger_applied() < proposed_->index) return;
  // Whatever held that log position has been applied. A transaction not in
  // the ledger now was in a block another leader overwrote: forward it again.
  std::lock_guard lock(in_mu_);
  for (auto& [tx, id] : proposed_->txs) {
    mempool_.forget({id});
    if (!ledger_.has_tx(id)) requeue(std::move(tx), id);
  }
  proposed_.reset();
}

void RaftOrderer::requeue(Transaction tx, const Hash256& id) {
  if (forwarded_.emplace(id, Forwarded{std::move(tx), Clock::now()}).second) unsent_.push_back(id);
  kick_ = true;
}

void RaftOrderer::hand_over_leadership() {
  if (raft_->role() != Role::leader) return;
  // The most up-to-date voter takes over soonest.
  consensus::NodeId best = consensus::kNoNode;
  std::uint64_t best_match = 0;
  for (consensus::NodeId id : raft_->conf_state().voters) {
    const consensus::Progress* pr = raft_->progress(id);
    if (id == config_.raft.id || !pr) continue;
    if (best == consensus::kNoNode || pr->match > best_match) {
      best = id;
      best_match = pr->match;
    }
  }
  if (best == consensus::kNoNode) return;
  if (auto s = raft_->transfer_leadership(best); !s) {
    log_line(config_.node_id, "leadership transfer refused: " + s.error().message);
    return;
  }
  transfer_until_ =
      Clock::now() + std::chrono::milliseconds(config_.raft.tick_ms * config_.raft.election_ticks);
}

void RaftOrderer::maybe_compact() {
  // Only with nothing queued for the apply thread: the snapshot's
  // membership is Raft's current one, which must be that of its index, and
  // its head must be the block of that index.
  std::uint64_t applied = ledger_applied();
  if (applied != raft_->applied()) return;
  if (applied < storage_->first_index() - 1 + config_.raft.snapshot_entries) return;
  auto head = ledger_.head();
  sync_ledger();  // the blocks of the entries compacted away
  if (auto s = storage_->compact(applied, raft_->conf_state(), snapshot_data(*head)); !s) {
    log_line(config_.node_id, "cannot compact the Raft log: " + s.error().message);
    return;
  }
  log_line(config_.node_id, "compacted the Raft log up to index " + std::to_string(applied) +
                                " (block " + std::to_string(head->height) + ")");
}

void RaftOrderer::forward_pending() {
  const consensus::NodeId leader = raft_->leader();
  const bool is_leader = raft_->role() == Role::leader;
  if (leader == consensus::kNoNode) return;
  // A deposed leader's mempool goes to the new leader.
  auto orphans = is_leader ? std::vector<std::pair<Transaction, Hash256>>{}
                           : mempool_.take_ready(config_.block, true);
  std::lock_guard lock(in_mu_);
  for (auto& [tx, id] : orphans) {
    mempool_.forget({id});
    requeue(std::move(tx), id);
  }
  auto now = Clock::now();
  if (leader != forwarding_to_) {
    // A new leader has seen none of them.
    forwarding_to_ = leader;
    unsent_.clear();
    for (const auto& [id, f] : forwarded_) unsent_.push_back(id);
  } else if (now >= next_scan_) {
    // Once a second: drop what never committed (its client's wait has long
    // timed out) and send again what has waited too long (a dropped frame, a
    // leader that was busy).
    next_scan_ = now + std::chrono::seconds(1);
    std::erase_if(forwarded_,
                  [&](const auto& kv) { return now - kv.second.since > kForwardedKeep; });
    for (const auto& [id, f] : forwarded_) {
      if (now - f.last_sent > kForwardedResend) unsent_.push_back(id);
    }
  }
  for (const Hash256& id : unsent_) {
    auto it = forwarded_.find(id);
    if (it == forwarded_.end()) continue;  // committed or expired meanwhile
    it->second.last_sent = now;
    // It stays in forwarded_ until committed: a refusal for lack of room
    // is retried, and a committed one is refused as a duplicate.
    if (is_leader) {
      worker_.post([this, tx = it->second.tx, id] { admit_forwarded_(tx, id); });
    } else {
      transport_->send(leader, frame(FrameKind::forward_tx, it->second.tx.to_json().dump()));
    }
  }
  unsent_.clear();
}

void RaftOrderer::publish_status() {
  ConsensusStatus s;
  switch (raft_->role()) {
    case Role::leader:
      s.role = "leader";
      break;
    case Role::candidate:
    case Role::pre_candidate:
      s.role = "candidate";
      break;
    case Role::follower:
      s.role = raft_->is_learner() ? "learner" : "follower";
      break;
  }
  s.term = raft_->term();
  s.commit_index = raft_->commit();
  s.applied_index = ledger_applied();
  s.members = raft_->conf_state().voters.size();
  s.learners = raft_->conf_state().learners.size();
  std::lock_guard lock(status_mu_);
  if (consensus::NodeId lead = raft_->leader(); lead != consensus::kNoNode) {
    if (const RaftPeer* p = config_.raft.peer(lead))
      s.leader = p->name;
    else if (auto it = names_.find(lead); it != names_.end())
      s.leader = it->second;
    else
      s.leader = "node-" + std::to_string(lead);
  }
  status_ = std::move(s);
}

}  // namespace custos::node
