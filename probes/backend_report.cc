#include "probes/backend_report.h"

#include <algorithm>

namespace rotor::probes {
namespace {

constexpr uint8_t kMaxPercent = 100;

std::string_view trim_ows(std::string_view text) {
  const auto is_ows = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string quoted(std::string_view header, std::string_view value) {
  return std::string(header) + " \"" + std::string(value) + "\"";
}

// nullopt with `problem` set when the values are not one valid header.
std::optional<std::string_view> single_value(std::string_view header, const std::vector<std::string>& values,
                                             std::string& problem) {
  if (values.size() > 1) {
    problem = std::string(header) + ": sent " + std::to_string(values.size()) + " times";
    return std::nullopt;
  }
  const std::string_view value = trim_ows(values.front());
  if (value.empty()) {
    problem = std::string(header) + ": empty";
    return std::nullopt;
  }
  return value;
}

std::optional<uint8_t> judge_weight(const std::vector<std::string>& values, std::string& problem) {
  if (values.empty()) return kMaxPercent;
  const auto value = single_value(kWeightHeader, values, problem);
  if (!value) return std::nullopt;
  const bool digits = value->size() <= 3 && std::all_of(value->begin(), value->end(), [](char c) {
                        return c >= '0' && c <= '9';
                      });
  if (!digits) {
    problem = quoted(kWeightHeader, *value) + ": expected a whole number from 0 to 100";
    return std::nullopt;
  }
  unsigned percent = 0;
  for (char c : *value) percent = percent * 10 + static_cast<unsigned>(c - '0');
  if (percent > kMaxPercent) {
    problem = quoted(kWeightHeader, *value) + ": above 100";
    return std::nullopt;
  }
  return static_cast<uint8_t>(percent);
}

std::optional<bool> judge_state(const std::vector<std::string>& values, std::string& problem) {
  if (values.empty()) return false;
  const auto value = single_value(kStateHeader, values, problem);
  if (!value) return std::nullopt;
  if (same_name(*value, "draining")) return true;
  if (same_name(*value, "up")) return false;
  problem = quoted(kStateHeader, *value) + ": expected draining or up";
  return std::nullopt;
}

}  // namespace

BackendReport judge_backend_headers(const BackendHeaders& headers) {
  BackendReport report;
  std::string weight_problem;
  std::string state_problem;
  report.weight_percent = judge_weight(headers.weight, weight_problem);
  report.draining = judge_state(headers.state, state_problem);
  report.problem = weight_problem;
  if (!state_problem.empty()) report.problem += (report.problem.empty() ? "" : "; ") + state_problem;
  return report;
}

void collect_backend_header(std::string_view line, BackendHeaders& headers) {
  if (line.starts_with("HTTP/")) {
    headers = {};
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const std::string_view name = line.substr(0, colon);
  std::string value(trim_ows(line.substr(colon + 1)));
  if (same_name(name, kWeightHeader)) {
    headers.weight.push_back(std::move(value));
  } else if (same_name(name, kStateHeader)) {
    headers.state.push_back(std::move(value));
  }
}

}  // namespace rotor::probes
