// OpenAI-style API errors: an HTTP status plus the JSON body
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// and ApiResult<T>, a value or an ApiError (qs::Result carries only a message,
// while the HTTP layer needs the status code and the offending parameter).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace qs::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault, e.g. "messages[1].content"; "" = none
  std::string code;   // machine-readable code, e.g. "model_not_found"; "" = none

  // 400 invalid_request_error naming `param`.
  static ApiError InvalidRequest(std::string message, std::string param = "",
                                 std::string code = "");
  // 400 for a syntactically broken body (bad JSON, bad UTF-8, nesting too deep).
  static ApiError BadJson(std::string message);
  // 400 model_not_found for param "model" (an invalid request, as the serving issue asks).
  static ApiError ModelNotFound(const std::string& model);
  // 401 authentication_error (missing or wrong API key).
  static ApiError Unauthorized(std::string message);
  // 404 for an unknown route.
  static ApiError NotFound(std::string message);
  // 405 for a known route with the wrong method.
  static ApiError MethodNotAllowed(std::string message);
  // 413 when the body exceeds the server's limit.
  static ApiError TooLarge(std::string message);
  // 429 / 503 when the server cannot take the request now.
  static ApiError RateLimited(std::string message);
  static ApiError Overloaded(std::string message);
  // 500 server_error.
  static ApiError Internal(std::string message);
};

// {"error": {"message","type","param","code"}}; empty param/code become null.
nlohmann::json error_json(const ApiError& e);
// error_json(e) serialized compactly (the HTTP response body).
std::string error_body(const ApiError& e);

// A value or an ApiError. Mirrors qs::Result's interface.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const {
    assert(!ok());
    return std::get<ApiError>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace qs::server
