#pragma once
// The API over a scratch registry on 127.0.0.1 port 0, and a one-call client,
// for the API's unit tests.

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_server.h"
#include "server/metrics/answer_rates.h"
#include "server/registry/registry.h"
#include "server/registry/sqlite_store.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/publisher.h"
#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::api::test {

using namespace std::chrono_literals;
using nlohmann::json;
using registry::test::ScratchDir;

inline constexpr const char* kWeb = "web.lb.example.com.";
inline const registry::SyntheticZoneSpec kLbZone{"lb.example.com.",
                                          {{"ns1.lb.example.com.", {"192.0.2.53"}}}};

// A registry over a scratch database serving lb.example.com., and the API
// over it on 127.0.0.1 port 0.
struct Rig {
  // `cluster`: the API of node "ns1" of a cluster, whose verdicts the test sets.
  explicit Rig(std::string token = "", ConnectionLimits limits = {}, bool cluster = false)
      : Rig(ApiOptions{.listen = "127.0.0.1:0", .token = std::move(token), .limits = limits}, cluster) {}
  // `options.listen` is replaced by 127.0.0.1 port 0.
  explicit Rig(ApiOptions options, bool cluster = false)
      : db(dir.file("rotor.db")),
        publisher(std::make_shared<const Snapshot>()),
        composer(publisher, {.publish_interval = 0ms}),
        registry(registry::Registry::open(std::make_unique<registry::SqliteStore>(db), composer)) {
    registry->set_synthetic_zones({kLbZone});
    server = std::make_unique<ApiServer>(
        ApiContext{.registry = *registry,
                   .composer = composer,
                   .publisher = publisher,
                   .last_check = [this](int64_t id) -> std::optional<probes::LastCheck> {
                     if (id != checked_id) return std::nullopt;
                     if (const int64_t until = held_down_until_ms.load(); until != 0) {
                       return probes::LastCheck{1700000000123, std::chrono::microseconds(900), true,
                                                "", until};
                     }
                     return probes::LastCheck{1700000000123, std::chrono::microseconds(1500), false,
                                              "HTTP 503"};
                   },
                   .check_history = [this](int64_t id) {
                     probes::CheckHistory history;
                     if (id != checked_id) return history;
                     history.checks = {{1700000000123, std::chrono::microseconds(1500), false, "HTTP 503"},
                                       {1700000000023, std::chrono::microseconds(900), true, "HTTP 200"}};
                     // The older check read the backend's report (weight_from_response).
                     history.checks[1].reported_weight = 25;
                     history.checks[1].reported_draining = false;
                     history.checks[1].report_problem = "Rotor-State \"down\": expected draining or up";
                     history.transitions = 2;
                     history.damping_starts = 1;
                     return history;
                   },
                   .metrics_text = [] { return std::string("rotor_up 1\n"); },
                   .answer_rates = [this] {
                     const metrics::AnswerRateSampler* sampler = rates_sampler.load();
                     if (sampler != nullptr) return sampler->rates();
                     const metrics::AnswerRateOptions defaults;
                     return metrics::AnswerRateHistory(defaults.capacity).view(defaults.interval.count());
                   },
                   .verdict = cluster ? std::function(
                                            [this](int64_t id) -> std::optional<cluster::Verdict> {
                                              std::lock_guard lock(verdicts_mutex);
                                              const auto it = verdicts.find(id);
                                              if (it == verdicts.end()) return std::nullopt;
                                              return it->second;
                                            })
                                      : nullptr,
                   .node = cluster ? "ns1" : "local"},
        [&options] {
          options.listen = "127.0.0.1:0";
          return std::move(options);
        }());
    server->start();
    const auto colon = server->bound().rfind(':');
    port = std::stoi(server->bound().substr(colon + 1));
  }

  httplib::Client client() const {
    httplib::Client out("127.0.0.1", port);
    out.set_connection_timeout(2s);
    out.set_read_timeout(5s);
    return out;
  }

  ScratchDir dir;
  std::string db;
  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<ApiServer> server;
  int port = 0;
  std::atomic<int64_t> checked_id{-1};  // set by the test, read by API threads
  // Non-zero: checked_id's last check passed and flap damping holds it down until then.
  std::atomic<int64_t> held_down_until_ms{0};
  // Set by the test: GET /v1/rates reads this sampler (none: an empty history).
  std::atomic<const metrics::AnswerRateSampler*> rates_sampler{nullptr};
  std::mutex verdicts_mutex;              // guards verdicts (cluster rigs)
  std::map<int64_t, cluster::Verdict> verdicts;
};

struct Reply {
  int status = 0;
  json body;
  httplib::Headers headers;
};

// One request; `content_type` empty sends the body without one.
inline Reply send(const Rig& rig, const std::string& method, const std::string& path,
           const std::string& body = "", const std::string& content_type = "application/json",
           const httplib::Headers& headers = {}) {
  httplib::Client client = rig.client();
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.headers = headers;
  if (!body.empty() || method == "PUT" || method == "POST" || method == "PATCH") {
    request.body = body;
    if (!content_type.empty()) request.set_header("Content-Type", content_type);
  }
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(request, response, error);
  REQUIRE_MESSAGE(sent, "request failed: " << httplib::to_string(error));
  Reply reply{response.status, json(), response.headers};
  if (response.get_header_value("Content-Type") == "application/json") {
    reply.body = json::parse(response.body);
  } else {
    reply.body = response.body;
  }
  return reply;
}

}  // namespace rotor::api::test
