// Error and Result<T>: how every CPR layer reports failure.
//
// An Error names a code (what kind of failure, so callers can choose to retry
// or give up), where it happened (file, page, flag) and what went wrong, plus
// an optional hint telling the operator what to do next. Printed as
// "where: what (hint)".
//
// Result<T> holds a value or an Error. It is shaped like std::expected so it
// can be swapped for it once clang can compile libstdc++'s <expected>.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cpr {

enum class Code {
  kIo,                  // the OS refused a read/write/open
  kCorrupt,             // the data is not what its format says it must be
  kInvalidArgument,     // the caller (usually the operator) asked for something impossible
  kNotFound,            // a named thing does not exist
  kFailedPrecondition,  // the state must be fixed by someone before retrying
  kUnavailable,         // a peer is down; retrying this call may work
  kInternal,            // a bug in CPR
};

const char* CodeName(Code code);

struct Error {
  Code code = Code::kInternal;
  std::string where;  // "snapA.db page 42 (leaf)", "--rev"
  std::string what;   // "element 7: key offset 9000 past page end 4096"
  std::string hint;   // optional: what the operator can do next

  // "where: what (hint)"
  std::string ToString() const;
  // Adds context on the way up: where becomes "outer: where".
  Error&& Within(const std::string& outer) &&;
};

inline Error MakeError(Code code, std::string where, std::string what, std::string hint = {}) {
  return Error{code, std::move(where), std::move(what), std::move(hint)};
}

template <class T = void>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  // REQUIRES: has_value()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value()
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const Error& error() const& { return *e_; }
  Error&& error() && { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

}  // namespace cpr

// CPR_TRY(expr): evaluates a Result; on error returns it from the enclosing
// function, otherwise yields the value (a GNU statement expression: g++ and
// clang both have it).
#define CPR_TRY(expr)                                                            \
  ({                                                                             \
    auto cpr_try_result_ = (expr);                                               \
    if (!cpr_try_result_.has_value()) return std::move(cpr_try_result_).error(); \
    std::move(cpr_try_result_).value();                                          \
  })

// CPR_RETURN_IF_ERROR(expr): for Result<void>; returns the error if any.
#define CPR_RETURN_IF_ERROR(expr)                                                \
  do {                                                                           \
    auto cpr_rie_result_ = (expr);                                               \
    if (!cpr_rie_result_.has_value()) return std::move(cpr_rie_result_).error(); \
  } while (0)
