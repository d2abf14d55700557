// parse_endpoint (declared in worker_pool.h): "ADDR:PORT" and "[V6]:PORT".
// Only numeric addresses: names would need a resolver at startup.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include "server/net/socket.h"
#include "server/net/worker_pool.h"

namespace rotor::net {

namespace {

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool parse_port(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

bool parse_endpoint(const std::string& text, ListenEndpoint& out, std::string& error) {
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) {
      error = "bad address " + quoted(text) + ": missing \"]\"";
      return false;
    }
    bracketed = true;
    host = std::string_view(text).substr(1, close - 1);
    const std::string_view rest = std::string_view(text).substr(close + 1);
    if (rest.empty()) {
      error = "missing port in " + quoted(text);
      return false;
    }
    if (rest.front() != ':') {
      error = "bad address " + quoted(text);
      return false;
    }
    port_text = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "missing port in " + quoted(text);
      return false;
    }
    host = std::string_view(text).substr(0, colon);
    port_text = std::string_view(text).substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "bad address " + quoted(text) + ": write IPv6 addresses as \"[ADDR]:PORT\"";
      return false;
    }
  }
  if (port_text.empty()) {
    error = "missing port in " + quoted(text);
    return false;
  }
  uint16_t port = 0;
  if (!parse_port(port_text, port)) {
    error = "bad port " + quoted(port_text) + " in " + quoted(text);
    return false;
  }

  ListenEndpoint parsed;
  const std::string host_text(host);
  if (bracketed) {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(parsed.address);
    v6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, host_text.c_str(), &v6.sin6_addr) != 1) {
      error = "bad address " + quoted(host);
      return false;
    }
  } else {
    auto& v4 = reinterpret_cast<sockaddr_in&>(parsed.address);
    v4.sin_family = AF_INET;
    if (inet_pton(AF_INET, host_text.c_str(), &v4.sin_addr) != 1) {
      error = "bad address " + quoted(host);
      return false;
    }
  }
  set_address_port(parsed.address, port);
  parsed.text = format_endpoint(parsed.address);
  out = std::move(parsed);
  return true;
}

}  // namespace rotor::net
