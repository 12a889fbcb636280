// The bench's side of HTTP: one keep-alive connection to one gateway, and the
// classification of answers into failure kinds. Only http.cpp sees
// cpp-httplib (its pkg-config flags must match the library's build).
//
// Thread-safety: a Connection belongs to one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace custos::bench {

struct HttpAnswer {
  int status = 0;               // 0: no answer (see transport_error)
  std::string body;             // the answer's body
  std::string transport_error;  // "timeout", "connection refused", ... when status is 0
  double retry_after_s = 0;     // from Retry-After, 0 when absent
};

class Connection {
 public:
  // `gateway`: a URL parse_gateway_url accepts. read_timeout_s bounds one
  // request (a ?wait=commit answer included).
  static Result<std::unique_ptr<Connection>> open(const std::string& gateway,
                                                  double read_timeout_s);
  ~Connection();

  // POST /v1/transactions?wait=commit with a JSON envelope.
  HttpAnswer submit_and_wait(const std::string& envelope_json);
  // POST /v1/transactions/batch?wait=commit with {"transactions": [...]}
  // holding these envelopes (JSON texts), in order; see batch_outcomes().
  HttpAnswer submit_batch_and_wait(const std::vector<const std::string*>& envelopes_json);
  // GET path with Authorization: Bearer token.
  HttpAnswer get(const std::string& path, const std::string& token);

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for 200 with {"code": "OK"} (a committed transaction) or, for reads, 200.
bool committed_ok(const HttpAnswer& answer);
// "HTTP 409 TIME_REGRESSION", "HTTP 503 mempool_full", "timeout",
// "connection error (Connection)": the failure kinds the report counts.
std::string failure_kind(const HttpAnswer& answer);
// The problem's "detail" (or the start of the body), for setup errors.
std::string failure_detail(const HttpAnswer& answer);

// What became of one envelope of a batch, in the terms of a single submit.
struct BatchOutcome {
  enum class Kind {
    kCommitted,  // committed with OK
    kBusy,       // not admitted, node busy: send it again after answer.retry_after_s
    kFailed,     // refused, failed, pending, or the batch had no answer
  };
  Kind kind = Kind::kFailed;
  // For kBusy and kFailed, the kind the report counts, named as for a single
  // submit where there is one: "HTTP 409 DUPLICATE_TX" (refused), "HTTP 503
  // mempool_full" (busy), "HTTP 202 pending"; "failed NOT_CUSTODIAN"
  // (committed with that code). When the batch as a whole got no 200
  // answer, every entry gets failure_kind(answer).
  std::string failure;
};
// One outcome per envelope of a batch of `count`, in order, from the answer
// to submit_batch_and_wait.
std::vector<BatchOutcome> batch_outcomes(const HttpAnswer& answer, std::size_t count);

}  // namespace custos::bench
