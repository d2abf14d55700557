#pragma once
// What a backend says about itself in its health check's response
// (check.weight_from_response): `Rotor-Weight: 0-100`, the percent of its
// configured weight it wants (0: send no new clients), and `Rotor-State:
// draining|up`. The HTTP checker collects the values of both headers; this
// pure function judges them. A value that is not valid is ignored (the
// previous report stays, see health_state.h) and the reason is kept for the
// check's history, so an operator can see why a backend's wish had no effect.
//
// Rules: optional whitespace around a value is not part of it (RFC 9110
// 5.5), so " 25" is 25; the weight is a whole number 0..100 in decimal
// digits only ("25%", "+25", "-1", "0x19", "25.0" are refused); the state is
// "draining" or "up" in any case. A header sent more than once is refused
// whatever its values (which one would the backend mean?). An absent header
// is the default: 100 percent, up.
//
// Thread-safety: pure, no shared state. Errors: none thrown; the problem
// text says what was ignored.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::probes {

inline constexpr std::string_view kWeightHeader = "Rotor-Weight";
inline constexpr std::string_view kStateHeader = "Rotor-State";

// The raw values of the two headers in one response, in the order received.
struct BackendHeaders {
  std::vector<std::string> weight;
  std::vector<std::string> state;
};

// The judged report: nullopt where the header was sent but not valid
// (ignored: the previous value stays).
struct BackendReport {
  std::optional<uint8_t> weight_percent;  // 100 when the header is absent
  std::optional<bool> draining;           // false when the header is absent
  // Why a header was ignored ("Rotor-Weight \"25%\": expected a whole number
  // from 0 to 100"); both joined with "; "; empty: nothing ignored.
  std::string problem;
};

BackendReport judge_backend_headers(const BackendHeaders& headers);

// Whether `line` (one raw response header line, CRLF included or not) is
// one of the two headers; if so appends its value to `headers`. The name is
// matched without regard to case. A status line ("HTTP/1.1 200 OK") clears
// `headers`: only the final response's headers count (after a 100 Continue).
void collect_backend_header(std::string_view line, BackendHeaders& headers);

}  // namespace rotor::probes
