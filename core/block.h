// Block headers and blocks.
//
// A header commits to its place in the chain (height, previous block hash),
// to its transactions (RFC 6962 Merkle root over their tx ids), to when and by
// whom it was proposed, and to the execution results of the previous block, so
// that a peer whose state diverged notices at the next block.
//
// block hash = tagged_hash("custos/block/v1", JCS(header)); see docs/formats.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/json.h"
#include "core/tx.h"

namespace custos {

inline constexpr std::string_view kBlockTag = "custos/block/v1";
inline constexpr std::size_t kBlockTxsMax = 10'000;

struct BlockHeader {
  std::string network_id;
  std::uint64_t height = 0;  // genesis is 0
  Hash256 prev_hash;         // all zero for genesis
  Hash256 tx_root;           // merkle_root of the tx ids' leaf hashes
  std::uint64_t tx_count = 0;
  std::int64_t timestamp_ms = 0;  // the proposer's clock; chaincode's only notion of time
  std::string proposer;           // node id of the proposer
  Hash256 prev_results_hash;      // results of block height-1; all zero for genesis
  // The ledger's commitments after block height-1 (docs/formats.md §12, §13):
  // the transaction log's size and root and the state map's root. Block 0
  // has the empty ones: size 0, SHA-256(""), 32 zero bytes.
  std::uint64_t prev_log_size = 0;
  Hash256 prev_log_root = empty_log_root();
  Hash256 prev_state_root;

  // The root of an empty RFC 6962 log: SHA-256("").
  static Hash256 empty_log_root();

  Json to_json() const;
  std::string canonical() const;
  Hash256 hash() const;
};

struct Block {
  BlockHeader header;
  std::vector<Transaction> txs;

  Json to_json() const;  // {"header": ..., "txs": [...]}
};

// The Merkle root that a header commits to for these transactions: leaves are
// the 32-byte tx ids.
Hash256 tx_root_of(const std::vector<Transaction>& txs);
// The same from the transactions' ids, when the caller has them.
Hash256 tx_root_of_ids(const std::vector<Hash256>& tx_ids);

// Builds a block over txs with tx_root and tx_count filled in. A caller
// that has the transactions' ids (tx_ids[i] == txs[i].id()) passes them,
// sparing a canonical encoding and a hash per transaction.
Block make_block(std::string network_id, std::uint64_t height, const Hash256& prev_hash,
                 std::int64_t timestamp_ms, std::string proposer, const Hash256& prev_results_hash,
                 std::vector<Transaction> txs, const std::vector<Hash256>* tx_ids = nullptr);

// Parses and checks a header ("bad_block" on any unknown or malformed member).
Result<BlockHeader> block_header_from_json(const Json& j);
// Parses a block and checks that tx_count and tx_root match its transactions
// and that every transaction names the header's network. The transactions'
// ids, computed for that check, go to *tx_ids when it is given.
Result<Block> block_from_json(const Json& j, std::vector<Hash256>* tx_ids = nullptr);

}  // namespace custos
