#include "api/request_head.h"

#include <httplib.h>

#include <array>
#include <string>

namespace rotor::api {

namespace {

// RFC 9110's tchar: what a method or a header's name is made of. A table:
// a search of the punctuation for every '-' of every name was a memchr call
// per byte.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();
bool is_token_char(unsigned char c) { return kTokenChars[c]; }

bool is_space_or_tab(char c) { return c == ' ' || c == '\t'; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool contains_ignoring_case(std::string_view text, std::string_view part) {
  for (size_t at = 0; at + part.size() <= text.size(); ++at) {
    if (equals_ignoring_case(text.substr(at, part.size()), part)) return true;
  }
  return false;
}

// The methods httplib routes to the API's handler; a body is read for the
// last four (httplib's expect_content).
bool is_routed_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "POST" ||
         method == "PUT" || method == "PATCH" || method == "DELETE";
}
bool takes_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// The request line: METHOD SP origin-form SP HTTP/1.x, nothing more.
const char* read_request_line(std::string_view line, httplib::Request& request) {
  const size_t first = line.find(' ');
  if (first == std::string_view::npos) return "the request line has no space";
  const size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return "the request line has one space";
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_routed_method(method)) return "a method the API does not route";
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return "not HTTP/1.0 or HTTP/1.1";
  if (target.empty() || target.front() != '/') return "the target is not a path";
  size_t questions = 0;
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    // Spaces and tabs around pieces httplib trims; a fragment it drops.
    if (byte <= 0x20 || byte >= 0x7F || c == '#') return "a control, space, '#' or non-ASCII byte in the target";
    if (c == '?') ++questions;
  }
  if (questions > 1) return "more than one '?' in the target";
  request.method = method;
  request.version = version;
  request.target = target;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (path.find('%') == std::string_view::npos) {
    request.path = path;
  } else {
    request.path = httplib::detail::decode_url(std::string(path), false);
  }
  if (question != std::string_view::npos && question + 1 < target.size()) {
    httplib::detail::parse_query_text(std::string(target.substr(question + 1)), request.params);
  }
  return nullptr;
}

// Content-Length's digits; false when it is not a plain decimal number.
bool parse_length(std::string_view text, size_t& out) {
  if (text.empty() || text.size() > 18) return false;
  out = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

}  // namespace

const char* read_request_head(std::string_view bytes, size_t max_body, httplib::Request& request,
                              RequestHead& head) {
  const size_t blank = bytes.find("\r\n\r\n");
  if (blank == std::string_view::npos) return "the head is not all in what was read";
  head.head_bytes = blank + 4;
  const std::string_view text = bytes.substr(0, blank + 2);  // every line with its CRLF
  size_t line_end = text.find("\r\n");
  if (const char* why = read_request_line(text.substr(0, line_end), request)) return why;

  bool has_length = false;
  bool has_connection = false;
  head.content_length = 0;
  head.connection_close = false;
  head.connection_keep_alive = false;
  for (size_t at = line_end + 2; at < text.size(); at = line_end + 2) {
    line_end = text.find("\r\n", at);
    const std::string_view line = text.substr(at, line_end - at);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return "a header line without a name";
    const std::string_view name = line.substr(0, colon);
    for (const char c : name) {
      if (!is_token_char(static_cast<unsigned char>(c))) return "a byte that is not a token's in a header's name";
    }
    size_t begin = colon + 1;
    size_t end = line.size();
    while (begin < end && is_space_or_tab(line[begin])) ++begin;
    while (end > begin && is_space_or_tab(line[end - 1])) --end;
    const std::string_view value = line.substr(begin, end - begin);
    if (value.empty()) return "an empty header value (httplib drops the header)";
    for (const char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7F) return "a control byte in a header's value";
      if (c == '%') return "a '%' in a header's value (httplib percent-decodes values)";
    }
    if (equals_ignoring_case(name, "Connection")) {
      if (!has_connection) {
        head.connection_close = value == "close";
        head.connection_keep_alive = value == "Keep-Alive";
        has_connection = true;
      }
    } else if (equals_ignoring_case(name, "Content-Length")) {
      if (has_length) return "Content-Length twice";
      if (!parse_length(value, head.content_length)) return "a Content-Length that is not a number";
      has_length = true;
    } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
      return "Transfer-Encoding (httplib reads chunked bodies)";
    } else if (equals_ignoring_case(name, "Content-Encoding")) {
      return "Content-Encoding (httplib decompresses bodies)";
    } else if (equals_ignoring_case(name, "Accept-Encoding") &&
               (contains_ignoring_case(value, "gzip") || contains_ignoring_case(value, "br"))) {
      // Python's http.client sends "identity", which httplib ignores too.
      return "Accept-Encoding with gzip or br (httplib compresses replies)";
    } else if (equals_ignoring_case(name, "Expect")) {
      return "Expect (httplib answers 100-continue)";
    } else if (equals_ignoring_case(name, "Range")) {
      return "Range (httplib serves byte ranges)";
    } else if (equals_ignoring_case(name, "Content-Type") &&
               (contains_ignoring_case(value, "multipart/") ||
                contains_ignoring_case(value, "x-www-form-urlencoded"))) {
      return "a form body (httplib parses forms)";
    }
    request.headers.emplace(std::string(name), std::string(value));
  }

  if (takes_body(request.method)) {
    if (!has_length) return "a body without Content-Length";
    if (head.content_length > max_body) return "a body over the limit (httplib answers 413)";
  } else if (head.content_length > 0) {
    return "a body on a method that takes none (httplib leaves it unread)";
  }
  return nullptr;
}

}  // namespace rotor::api
