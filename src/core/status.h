// Errors as values at layer boundaries: Status (ok or a message) and Result<T>
// (a value or a Status). Messages are for humans: they name the file, the
// object and the problem, e.g. "model.safetensors: tensor 'x': offsets out of range".
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace qs {

class Status {
 public:
  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Prefixes context, e.g. Status::Error("bad dtype").With("model.safetensors").
  Status With(const std::string& context) const {
    return failed_ ? Status(context + ": " + message_, true) : *this;
  }

 private:
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {    // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace qs

// Early return on error, for functions returning Status or Result<U>.
#define QS_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::qs::Status qs_status_ = (expr);       \
    if (!qs_status_.ok()) return qs_status_; \
  } while (0)

#define QS_CONCAT_INNER(a, b) a##b
#define QS_CONCAT(a, b) QS_CONCAT_INNER(a, b)
// QS_ASSIGN_OR_RETURN(auto x, MakeX()); binds the value or returns the error.
#define QS_ASSIGN_OR_RETURN(lhs, expr) \
  QS_ASSIGN_OR_RETURN_IMPL(QS_CONCAT(qs_result_, __LINE__), lhs, expr)
#define QS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
