// The wire encoding of Raft messages between nodes: a compact, versioned
// binary format (docs/consensus.md, "Wire format"). decode_message never
// trusts its input: any byte string that encode_message did not produce is
// an error, never a crash, an over-read or an unbounded allocation.
#pragma once

#include "consensus/raft.h"
#include "core/bytes.h"
#include "core/result.h"

namespace custos::consensus {

Bytes encode_message(const Message& m);
// Error "bad_message" naming what is wrong (truncated, trailing bytes,
// unknown type, a count larger than the remaining input, ...).
Result<Message> decode_message(ByteView bytes);

}  // namespace custos::consensus
