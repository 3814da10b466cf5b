#include "server/openai_errors.h"

namespace qs::server {

namespace {
ApiError Make(int status, std::string message, std::string type, std::string param = "",
              std::string code = "") {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}
}  // namespace

ApiError ApiError::InvalidRequest(std::string message, std::string param, std::string code) {
  return Make(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
}
ApiError ApiError::BadJson(std::string message) {
  return Make(400, std::move(message), "invalid_request_error", "", "invalid_json");
}
ApiError ApiError::ModelNotFound(const std::string& model) {
  return Make(400, "The model `" + model + "` does not exist.", "invalid_request_error", "model",
              "model_not_found");
}
ApiError ApiError::Unauthorized(std::string message) {
  return Make(401, std::move(message), "authentication_error", "", "invalid_api_key");
}
ApiError ApiError::NotFound(std::string message) {
  return Make(404, std::move(message), "invalid_request_error", "", "not_found");
}
ApiError ApiError::MethodNotAllowed(std::string message) {
  return Make(405, std::move(message), "invalid_request_error", "", "method_not_allowed");
}
ApiError ApiError::TooLarge(std::string message) {
  return Make(413, std::move(message), "invalid_request_error", "", "request_too_large");
}
ApiError ApiError::RateLimited(std::string message) {
  return Make(429, std::move(message), "rate_limit_error", "", "rate_limit_exceeded");
}
ApiError ApiError::Overloaded(std::string message) {
  return Make(503, std::move(message), "server_error", "", "overloaded");
}
ApiError ApiError::Internal(std::string message) {
  return Make(500, std::move(message), "server_error", "", "internal_error");
}

nlohmann::json error_json(const ApiError& e) {
  nlohmann::json inner;
  inner["message"] = e.message;
  inner["type"] = e.type;
  inner["param"] = e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param);
  inner["code"] = e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code);
  return nlohmann::json{{"error", std::move(inner)}};
}

std::string error_body(const ApiError& e) {
  // Messages may quote client input; replace rather than throw on bad UTF-8.
  return error_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace qs::server
