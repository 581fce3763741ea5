// Result<T>: the value of a fallible operation, or an Error saying what went
// wrong and whether the caller should try again.
//
// Expected failures (network, authentication, bad mail, configuration,
// database conflicts) are returned as values; exceptions are reserved for
// third-party libraries and are converted to Error in the adapter that wraps
// the library. Thread-safety: plain values, no shared state.
#ifndef MAILFORUM_BASE_RESULT_H_
#define MAILFORUM_BASE_RESULT_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace base {

// What the caller can do about an error.
enum class ErrorKind {
  kTransient,  // May succeed later: connection lost, timeout, 4xx, serialization failure.
  kPermanent,  // Will fail again the same way: 5xx, rejected credentials, missing object.
  kConfig,     // The configuration is wrong; an operator must change it (exit 78).
  kProtocol,   // The peer said something we cannot understand.
  kInvalidInput,  // The input (a message, a file, an argument) is malformed.
  kInternal,   // A bug or an unexpected library failure.
};

std::string_view ErrorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;

  // Returns a copy whose message is "context: message".
  Error WithContext(std::string_view context) const;
  bool retryable() const { return kind == ErrorKind::kTransient; }
};

inline Error MakeError(ErrorKind kind, std::string message) { return Error{kind, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}    // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok().
  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace base

#endif  // MAILFORUM_BASE_RESULT_H_
