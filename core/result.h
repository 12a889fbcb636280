// Errors are values: every fallible function in Custos returns Result<T>.
// An Error carries a stable machine-readable code (used in CLI messages and,
// later, in problem+json responses) and a human-readable message.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace custos {

struct Error {
  std::string code;     // stable, lower_snake_case, e.g. "bad_hex"
  std::string message;  // for people; may change between versions
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok(). Violations are bugs, so they abort in every build.
  T& value() & {
    check(true);
    return std::get<0>(v_);
  }
  const T& value() const& {
    check(true);
    return std::get<0>(v_);
  }
  T&& value() && {
    check(true);
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const Error& error() const {
    check(false);
    return std::get<1>(v_);
  }

 private:
  void check(bool want_ok) const {
    if (ok() != want_ok) __builtin_trap();
  }
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() {
  return Unit{};
}

inline Error make_error(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

}  // namespace custos
