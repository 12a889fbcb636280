#include "consensus/codec.h"

namespace custos::consensus {

// Placeholder until the wire format lands (docs/consensus.md).
Bytes encode_message(const Message&) {
  return {};
}

Result<Message> decode_message(ByteView) {
  return make_error("bad_message", "not implemented");
}

}  // namespace custos::consensus
