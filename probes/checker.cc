#include "probes/checker.h"

#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "probes/check_spec.h"

namespace rotor::probes {

std::string_view to_string(CheckKind kind) {
  switch (kind) {
    case CheckKind::http: return "http";
    case CheckKind::https: return "https";
    case CheckKind::tcp: return "tcp";
  }
  return "unknown";
}

sockaddr_storage to_sockaddr(const arrays::IpAddress& address, uint16_t port) {
  sockaddr_storage storage{};
  if (address.family == 6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, address.bytes, 16);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr, address.bytes, 4);
  }
  return storage;
}

HttpVerdict judge_http_response(long status, std::string_view body, uint16_t status_min,
                                uint16_t status_max, const std::string& expect_body) {
  HttpVerdict verdict{false, "HTTP " + std::to_string(status)};
  if (status < status_min || status > status_max) return verdict;
  if (!expect_body.empty() && body.find(expect_body) == std::string_view::npos) {
    verdict.reason = "body did not contain \"" + expect_body + "\"";
    return verdict;
  }
  verdict.passed = true;
  return verdict;
}

CheckTarget make_target(const CheckSpec& spec, const arrays::IpAddress& address) {
  CheckTarget target;
  target.address = address;
  target.port = spec.effective_port();
  switch (spec.type) {
    case CheckSpec::Type::http: target.kind = CheckKind::http; break;
    case CheckSpec::Type::https: target.kind = CheckKind::https; break;
    case CheckSpec::Type::tcp: target.kind = CheckKind::tcp; break;
  }
  target.path = spec.path;
  target.host = spec.host;
  target.expect_status_min = spec.expect_status_min;
  target.expect_status_max = spec.expect_status_max;
  target.expect_body = spec.expect_body;
  target.timeout = spec.timeout;
  target.tls_verify = spec.tls_verify;
  target.read_backend_report = spec.weight_from_response;
  target.reuse_connection = spec.reuse_connection;
  return target;
}

std::string timeout_reason(std::chrono::milliseconds timeout) {
  return "timeout after " + std::to_string(timeout.count()) + " ms";
}

std::string connect_error_reason(int error) {
  switch (error) {
    case ECONNREFUSED: return "connection refused";
    case EHOSTUNREACH: return "no route to host";
    case ENETUNREACH: return "network unreachable";
    case ECONNRESET: return "connection reset";
    case ETIMEDOUT: return "connect timed out";
    case EADDRNOTAVAIL: return "address not available";
    default: break;
  }
  return std::string("connect failed: ") + std::strerror(error);
}

std::string bind_error_reason(const arrays::IpAddress& source, int error) {
  return "cannot bind source address " + source.to_string() + ": " + std::strerror(error);
}

}  // namespace rotor::probes
