#include "probes/backend_report.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/probes/backend_report");

namespace rotor::probes {
namespace {

struct WeightCase {
  const char* name;
  std::vector<std::string> values;  // every Rotor-Weight value of one response
  std::optional<uint8_t> weight;    // nullopt: ignored
  std::string problem;
};

TEST_CASE("probes/backend report judges Rotor-Weight") {
  const std::vector<WeightCase> cases = {
      {"absent is full weight", {}, 100, ""},
      {"a plain percent", {"25"}, 25, ""},
      {"zero asks for no new clients", {"0"}, 0, ""},
      {"one hundred", {"100"}, 100, ""},
      {"leading zeros", {"025"}, 25, ""},
      {"whitespace around is not part of the value", {" 25"}, 25, ""},
      {"tab and trailing space", {"\t25 "}, 25, ""},
      {"a percent sign", {"25%"}, std::nullopt, "Rotor-Weight \"25%\": expected a whole number from 0 to 100"},
      {"above 100", {"101"}, std::nullopt, "Rotor-Weight \"101\": above 100"},
      {"negative", {"-1"}, std::nullopt, "Rotor-Weight \"-1\": expected a whole number from 0 to 100"},
      {"a plus sign", {"+25"}, std::nullopt, "Rotor-Weight \"+25\": expected a whole number from 0 to 100"},
      {"letters", {"abc"}, std::nullopt, "Rotor-Weight \"abc\": expected a whole number from 0 to 100"},
      {"a fraction", {"25.0"}, std::nullopt, "Rotor-Weight \"25.0\": expected a whole number from 0 to 100"},
      {"hex", {"0x19"}, std::nullopt, "Rotor-Weight \"0x19\": expected a whole number from 0 to 100"},
      {"too many digits", {"0100"}, std::nullopt, "Rotor-Weight \"0100\": expected a whole number from 0 to 100"},
      {"a list in one line", {"25, 50"}, std::nullopt,
       "Rotor-Weight \"25, 50\": expected a whole number from 0 to 100"},
      {"empty", {""}, std::nullopt, "Rotor-Weight: empty"},
      {"only whitespace", {"  "}, std::nullopt, "Rotor-Weight: empty"},
      {"sent twice with one value", {"25", "25"}, std::nullopt, "Rotor-Weight: sent 2 times"},
      {"sent twice with two values", {"25", "50"}, std::nullopt, "Rotor-Weight: sent 2 times"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const BackendReport report = judge_backend_headers({.weight = c.values, .state = {}});
    CHECK(report.weight_percent == c.weight);
    CHECK(report.draining == std::optional<bool>(false));
    CHECK(report.problem == c.problem);
  }
}

struct StateCase {
  const char* name;
  std::vector<std::string> values;
  std::optional<bool> draining;
  std::string problem;
};

TEST_CASE("probes/backend report judges Rotor-State") {
  const std::vector<StateCase> cases = {
      {"absent is up", {}, false, ""},
      {"up", {"up"}, false, ""},
      {"draining", {"draining"}, true, ""},
      {"any case", {"Draining"}, true, ""},
      {"whitespace around", {" draining "}, true, ""},
      {"another word", {"down"}, std::nullopt, "Rotor-State \"down\": expected draining or up"},
      {"empty", {""}, std::nullopt, "Rotor-State: empty"},
      {"sent twice", {"up", "draining"}, std::nullopt, "Rotor-State: sent 2 times"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const BackendReport report = judge_backend_headers({.weight = {}, .state = c.values});
    CHECK(report.draining == c.draining);
    CHECK(report.weight_percent == std::optional<uint8_t>(100));
    CHECK(report.problem == c.problem);
  }
}

TEST_CASE("probes/backend report names both problems") {
  const BackendReport report = judge_backend_headers({.weight = {"lots"}, .state = {"maybe"}});
  CHECK_FALSE(report.weight_percent);
  CHECK_FALSE(report.draining);
  CHECK(report.problem ==
        "Rotor-Weight \"lots\": expected a whole number from 0 to 100; Rotor-State \"maybe\": expected draining or up");
}

TEST_CASE("probes/backend report collects header lines") {
  BackendHeaders headers;
  for (const char* line : {"HTTP/1.1 100 Continue\r\n", "rotor-weight: 10\r\n", "\r\n", "HTTP/1.1 200 OK\r\n",
                           "Content-Type: text/plain\r\n", "ROTOR-WEIGHT:  25 \r\n", "Rotor-State: draining\r\n",
                           "Rotor-Weightless: 3\r\n", "X-Rotor-Weight: 4\r\n", "\r\n"}) {
    collect_backend_header(line, headers);
  }
  // The interim response's header is gone; names match without case, and only exactly.
  CHECK(headers.weight == std::vector<std::string>{"25"});
  CHECK(headers.state == std::vector<std::string>{"draining"});
}

}  // namespace
}  // namespace rotor::probes

TEST_SUITE_END();
