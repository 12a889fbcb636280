// The wire encoding of Raft messages between nodes: a compact, versioned
// binary format (docs/consensus.md, "Wire format"). decode_message never
// trusts its input: any byte string that encode_message did not produce is
// an error, never a crash, an over-read or an unbounded allocation.
//
// Version 1, in brief: one version byte (1), then every field of Message in
// declaration order; integers fixed-width big-endian, enums and booleans one
// byte, counts and lengths u32 followed by the elements. Every Message has
// exactly one encoding, so decode_message(encode_message(m)) == m and
// encode_message(decode_message(b)) == b for every b that decodes.
//
// The codec checks structure only, not Raft meaning (sorted voters, a
// snapshot only on snapshot messages, ...): that is step()'s business.
// Both functions are pure and thread-safe.
#pragma once

#include "consensus/raft.h"
#include "core/bytes.h"
#include "core/result.h"

namespace custos::consensus {

// Preconditions, checked in every build (abort): m.type and every entry type
// are declared enum values, and no list or byte string (entries, payloads,
// voters, learners, snapshot data, context) has more than 2^32-1 elements.
Bytes encode_message(const Message& m);
// Error "bad_message" naming what is wrong and where (field and offset):
// truncated, trailing bytes, unknown version, unknown message or entry type,
// a bool that is neither 0 nor 1, a count or length larger than the remaining
// input could hold (refused before anything is allocated, so memory stays
// proportional to bytes.size()).
Result<Message> decode_message(ByteView bytes);

}  // namespace custos::consensus
