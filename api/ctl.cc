#include "api/ctl.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/shell_completion.h"
#include "server/common/ip_address.h"

namespace rotor::api::ctl {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// `events --follow` waits this long on the server per request (GET
// /v1/events?wait=, at most 25), under the client's 30 s read timeout.
constexpr const char* kFollowWaitSeconds = "20";

// A failed command: the exit code and what to tell the user.
struct CtlError : std::runtime_error {
  CtlError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

int exit_code_for(int status) {
  if (status == 404) return kExitNotFound;
  if (status == 401 || status == 403) return kExitUnauthorized;
  if (status >= 500) return kExitUnavailable;
  return kExitRefused;
}

// Query values: unreserved characters as they are, the rest %XX.
std::string encode(const std::string& value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Builds "?a=1&b=2" from the pairs whose value is not empty.
std::string query(const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string out;
  for (const auto& [name, value] : parameters) {
    if (value.empty()) continue;
    out += (out.empty() ? "?" : "&") + name + "=" + encode(value);
  }
  return out;
}

// The API over one httplib client: a request's JSON reply, or CtlError.
class ApiClient {
 public:
  ApiClient(const std::string& url, const std::string& ca_file) : url_(url), client_(url) {
    if (!client_.is_valid()) {
      throw CtlError(kExitUsage, "--api: \"" + url + "\" is not an http:// or https:// URL");
    }
    client_.set_connection_timeout(5s);
    client_.set_read_timeout(30s);
    client_.set_write_timeout(10s);
    if (const char* token = std::getenv("ROTOR_API_TOKEN"); token != nullptr && *token != '\0') {
      client_.set_bearer_token_auth(token);
    }
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    if (!ca_file.empty()) client_.set_ca_cert_path(ca_file.c_str());
    client_.enable_server_certificate_verification(true);
#else
    (void)ca_file;
#endif
  }

  json get(const std::string& path) { return check(client_.Get(path), "GET", path); }
  json post(const std::string& path, const json& body) {
    return check(client_.Post(path, body.dump(), "application/json"), "POST", path);
  }
  json post(const std::string& path) { return check(client_.Post(path), "POST", path); }  // no body
  json patch(const std::string& path, const json& body) {
    return check(client_.Patch(path, body.dump(), "application/merge-patch+json"), "PATCH", path);
  }
  json remove(const std::string& path) { return check(client_.Delete(path), "DELETE", path); }

 private:
  json check(const httplib::Result& result, const char* method, const std::string& path) {
    if (!result) {
      throw CtlError(kExitUnavailable, std::string(method) + " " + url_ + path +
                                           ": cannot reach the API: " + httplib::to_string(result.error()));
    }
    const httplib::Response& response = *result;
    json body = response.body.empty() ? json(nullptr) : json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300) return body.is_discarded() ? json(nullptr) : body;
    std::string message = response.body;
    if (!body.is_discarded() && body.contains("error") && body["error"].contains("message")) {
      message = body["error"]["message"].get<std::string>();
    }
    throw CtlError(exit_code_for(response.status),
                   std::string(method) + " " + path + ": " + std::to_string(response.status) + " " + message);
  }

  std::string url_;
  httplib::Client client_;
};

// Columns padded to their widest cell; the last column is not padded.
void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) widths[c] = headers[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

// A JSON value as a table cell: strings bare, null as "-".
std::string cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string check_text(const json& check) {
  if (!check.is_object()) return "-";
  std::string text = check.value("type", "http") + ":" + (check.contains("port") ? check["port"].dump() : "default");
  if (check.contains("path")) text += check["path"].get<std::string>();
  return text;
}

int print_json(const json& value) {
  std::printf("%s\n", value.dump(2).c_str());
  return kExitOk;
}

}  // namespace

struct CtlCommand::State {
  const CLI::App* root = nullptr;  // the whole command line, for completion
  CLI::App* ctl = nullptr;
  std::string api_url;
  std::string ca_file;
  bool json_output = false;

  CLI::App* arrays = nullptr;
  CLI::App* array = nullptr;
  CLI::App* health = nullptr;
  CLI::App* events = nullptr;
  CLI::App* explain = nullptr;
  CLI::App* reload = nullptr;
  CLI::App* instances = nullptr;
  CLI::App* add = nullptr;
  CLI::App* drain = nullptr;
  CLI::App* enable = nullptr;
  CLI::App* disable = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* set_weight = nullptr;
  CLI::App* completion = nullptr;

  std::string name;          // the array
  std::string instance;      // an id or an address
  std::string address;       // instances add
  int weight = 0;            // instances add (0: the API's default), set-weight
  std::string region;        // instances add
  bool follow = false;       // events
  std::string kind;          // events
  int64_t since = 0;         // events
  int limit = 100;           // events
  std::string client;        // explain
  std::string ecs;           // explain
  std::string type = "A";    // explain

  std::string array_path() const { return "/v1/arrays/" + name; }
  int dispatch(ApiClient& api);
  int64_t instance_id(ApiClient& api) const;
  int set_state(ApiClient& api, const char* state);
  int show_events(ApiClient& api);
};

namespace {

void add_array_argument(CLI::App& command, std::string& name) {
  command.add_option("array", name, "The array's name, as in web.lb.example.com")->required();
}

void add_instance_arguments(CLI::App& command, std::string& name, std::string& instance) {
  add_array_argument(command, name);
  command.add_option("instance", instance, "The instance's id or its address")->required();
}

}  // namespace

CtlCommand::CtlCommand(CLI::App& parent) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.root = &parent;
  s.ctl = parent.add_subcommand("ctl", "Talk to a running rotor's API (see api/README.md)");
  s.ctl->require_subcommand(1);
  const char* env_url = std::getenv("ROTOR_API_URL");
  s.api_url = env_url != nullptr && *env_url != '\0' ? env_url : "http://127.0.0.1:8053";
  s.ctl->add_option("--api", s.api_url, "The API's URL (default $ROTOR_API_URL or http://127.0.0.1:8053)");
  s.ctl->add_option("--ca", s.ca_file, "CA certificate file for an https:// API")->check(CLI::ExistingFile);
  s.ctl->add_flag("--json", s.json_output, "Print the API's JSON instead of a table");
  s.ctl->footer("The bearer token is read from $ROTOR_API_TOKEN. Exit codes: 0 done, 1 refused by the API, "
                  "2 usage, 3 not found, 4 not authorized, 5 API unreachable or failing.");

  s.arrays = s.ctl->add_subcommand("arrays", "List the arrays");
  s.array = s.ctl->add_subcommand("array", "Show one array and its instances");
  add_array_argument(*s.array, s.name);
  s.health = s.ctl->add_subcommand("health", "Show the health of an array's instances");
  add_array_argument(*s.health, s.name);

  s.events = s.ctl->add_subcommand("events", "Show the event log (the audit log)");
  s.events->add_flag("--follow,-f", s.follow, "Keep printing new events as they come");
  s.events->add_option("--array", s.name, "Only this array's events");
  s.events->add_option("--kind", s.kind, "Only events of this kind (admin, health, damping, ...)");
  s.events->add_option("--since", s.since, "Only events after this id");
  s.events->add_option("--limit", s.limit, "At most this many events a request")->check(CLI::Range(1, 1000));

  s.explain = s.ctl->add_subcommand("explain", "What rotor answers a client for a name, and why");
  s.explain->add_option("name", s.name, "The name asked")->required();
  s.explain->add_option("--client", s.client, "The query's source address");
  s.explain->add_option("--ecs", s.ecs, "An EDNS Client Subnet, like 198.51.100.0/24");
  s.explain->add_option("--type", s.type, "A or AAAA")->check(CLI::IsMember({"A", "AAAA"}));

  s.reload = s.ctl->add_subcommand("reload", "Reload the config, as SIGHUP does");

  s.instances = s.ctl->add_subcommand("instances", "Add, drain, enable, disable, remove or reweigh instances");
  s.instances->require_subcommand(1);
  s.add = s.instances->add_subcommand("add", "Add an instance to an array");
  add_array_argument(*s.add, s.name);
  s.add->add_option("address", s.address, "The instance's IPv4 or IPv6 address")->required();
  s.add->add_option("--weight", s.weight, "1 to 1000 (default 100)")->check(CLI::Range(1, 1000));
  s.add->add_option("--region", s.region, "The instance's region");
  s.drain = s.instances->add_subcommand("drain", "Send no new clients to an instance");
  add_instance_arguments(*s.drain, s.name, s.instance);
  s.enable = s.instances->add_subcommand("enable", "Answer an instance again");
  add_instance_arguments(*s.enable, s.name, s.instance);
  s.disable = s.instances->add_subcommand("disable", "Stop answering and probing an instance");
  add_instance_arguments(*s.disable, s.name, s.instance);
  s.remove = s.instances->add_subcommand("remove", "Remove an instance");
  add_instance_arguments(*s.remove, s.name, s.instance);
  s.set_weight = s.instances->add_subcommand("set-weight", "Change an instance's weight");
  add_instance_arguments(*s.set_weight, s.name, s.instance);
  s.set_weight->add_option("weight", s.weight, "1 to 1000")->required()->check(CLI::Range(1, 1000));

  s.completion = s.ctl->add_subcommand("completion", "Print a shell completion script for rotor");
  s.completion->require_subcommand(1);
  s.completion->add_subcommand(
      "bash", "The bash completion; load it with: source <(rotor ctl completion bash)");
}

CtlCommand::~CtlCommand() = default;

bool CtlCommand::parsed() const { return state_->ctl->parsed(); }

int CtlCommand::run() {
  if (state_->completion->parsed()) {  // needs no API
    std::printf("%s", bash_completion(*state_->root, "rotor").c_str());
    return kExitOk;
  }
  try {
    ApiClient api(state_->api_url, state_->ca_file);
    return state_->dispatch(api);
  } catch (const CtlError& error) {
    std::fprintf(stderr, "rotor ctl: %s\n", error.what());
    return error.code;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rotor ctl: %s\n", error.what());
    return kExitUnavailable;
  }
}

int64_t CtlCommand::State::instance_id(ApiClient& api) const {
  if (!instance.empty() && std::all_of(instance.begin(), instance.end(), ::isdigit)) {
    return std::stoll(instance);
  }
  const auto wanted = IpAddress::parse(instance);
  if (!wanted) throw CtlError(kExitUsage, "instance: \"" + instance + "\" is neither an id nor an address");
  const std::string address = wanted->unmapped().to_string();
  const json array = api.get(array_path());
  for (const json& entry : array["instances"]) {
    if (entry["address"] == address) return entry["id"].get<int64_t>();
  }
  throw CtlError(kExitNotFound, "no instance with address " + address + " in " + cell(array["name"]));
}

int CtlCommand::State::set_state(ApiClient& api, const char* state) {
  const int64_t id = instance_id(api);
  const json updated = api.patch(array_path() + "/instances/" + std::to_string(id), {{"state", state}});
  if (json_output) {
    print_json(updated);
  } else {
    std::printf("%s instance %lld (%s): %s\n", name.c_str(), static_cast<long long>(id),
                cell(updated["address"]).c_str(), state);
  }
  return kExitOk;
}

int CtlCommand::State::show_events(ApiClient& api) {
  bool header = !json_output;
  int64_t next = since;
  bool caught_up = false;  // following: each request then waits on the server for the next events
  while (true) {
    const json page = api.get("/v1/events" + query({{"since", std::to_string(next)},
                                                    {"limit", std::to_string(limit)},
                                                    {"array", name},
                                                    {"kind", kind},
                                                    {"wait", caught_up ? kFollowWaitSeconds : ""}}));
    std::vector<std::vector<std::string>> rows;
    for (const json& event : page["events"]) {
      if (json_output) {
        std::printf("%s\n", event.dump().c_str());  // one object a line, for jq and friends
        continue;
      }
      const std::string change = event.contains("old") || event.contains("new")
                                     ? cell(event.value("old", json(nullptr))) + " -> " +
                                           cell(event.value("new", json(nullptr)))
                                     : "-";
      rows.push_back({cell(event["id"]), cell(event["time"]), cell(event["kind"]),
                      cell(event.value("array", json(nullptr))), cell(event.value("address", json(nullptr))),
                      change, cell(event.value("reason", json(nullptr))),
                      cell(event.value("token", json(nullptr)))});
    }
    if (!rows.empty() || header) {
      if (header) {
        print_table({"ID", "TIME", "KIND", "ARRAY", "ADDRESS", "CHANGE", "REASON", "TOKEN"}, rows);
        header = false;
      } else {
        for (const auto& row : rows) {
          std::string line;
          for (const auto& field : row) line += field + "  ";
          std::printf("%s\n", line.c_str());
        }
      }
    }
    std::fflush(stdout);
    next = page["next"].get<int64_t>();
    const bool more = page["events"].size() == static_cast<size_t>(limit);
    if (!more && !follow) return kExitOk;
    // A long poll (GET /v1/events?wait=) rather than asking again every second.
    if (!more) caught_up = true;
  }
}

int CtlCommand::State::dispatch(ApiClient& api) {
  if (arrays->parsed()) {
    const json reply = api.get("/v1/arrays");
    if (json_output) return print_json(reply);
    std::vector<std::vector<std::string>> rows;
    for (const json& a : reply["arrays"]) {
      rows.push_back({cell(a["name"]), cell(a["policy"]), cell(a["ttl"]), cell(a["instance_count"]),
                      check_text(a.value("check", json(nullptr)))});
    }
    print_table({"NAME", "POLICY", "TTL", "INSTANCES", "CHECK"}, rows);
    return kExitOk;
  }
  if (array->parsed()) {
    const json reply = api.get(array_path());
    if (json_output) return print_json(reply);
    std::printf("%s  policy %s  ttl %s  degraded_ttl %s  when_all_down %s  check %s  source %s\n",
                cell(reply["name"]).c_str(), cell(reply["policy"]).c_str(), cell(reply["ttl"]).c_str(),
                cell(reply["degraded_ttl"]).c_str(), cell(reply["when_all_down"]).c_str(),
                check_text(reply.value("check", json(nullptr))).c_str(),
                cell(reply.value("source", json(nullptr))).c_str());
    std::vector<std::vector<std::string>> rows;
    for (const json& i : reply["instances"]) {
      rows.push_back({cell(i["id"]), cell(i["address"]), cell(i["weight"]), cell(i.value("region", json(""))),
                      cell(i["state"]), cell(i["health"])});
    }
    print_table({"ID", "ADDRESS", "WEIGHT", "REGION", "STATE", "HEALTH"}, rows);
    return kExitOk;
  }
  if (health->parsed()) {
    const json reply = api.get(array_path() + "/health");
    if (json_output) return print_json(reply);
    std::vector<std::vector<std::string>> rows;
    for (const json& i : reply["instances"]) {
      const json& last = i["last_check"];
      const std::string latency = last.is_object() ? cell(last["latency_ms"]) + " ms" : "-";
      rows.push_back({cell(i["id"]), cell(i["address"]), cell(i["state"]), cell(i["health"]),
                      cell(i["health_changed"]), latency, cell(i["reason"])});
    }
    print_table({"ID", "ADDRESS", "STATE", "HEALTH", "SINCE", "LAST CHECK", "REASON"}, rows);
    return kExitOk;
  }
  if (events->parsed()) return show_events(api);
  if (explain->parsed()) {
    const json reply = api.get("/v1/explain" + query({{"name", name}, {"type", type}, {"client", client}, {"ecs", ecs}}));
    if (json_output) return print_json(reply);
    const json& answer = reply["answer"];
    std::string addresses;
    for (const json& address : answer["addresses"]) addresses += (addresses.empty() ? "" : " ") + cell(address);
    std::printf("%s %s: %s  ttl %s  %s\n", name.c_str(), type.c_str(), cell(answer["rcode"]).c_str(),
                cell(answer.value("ttl", json(nullptr))).c_str(), addresses.empty() ? "(no addresses)" : addresses.c_str());
    if (reply["array"].is_object()) {
      std::vector<std::vector<std::string>> rows;
      for (const json& i : reply["array"]["instances"]) {
        rows.push_back({cell(i["address"]), i.value("answered", false) ? "yes" : "no", cell(i["reason"])});
      }
      print_table({"INSTANCE", "ANSWERED", "WHY"}, rows);
    }
    return kExitOk;
  }
  if (reload->parsed()) {
    const json reply = api.post("/v1/reload");
    if (json_output) return print_json(reply);
    std::printf("reloaded\n");
    for (const json& warning : reply.value("warnings", json::array())) std::printf("warning: %s\n", cell(warning).c_str());
    return kExitOk;
  }
  if (add->parsed()) {
    json body{{"address", address}};
    if (weight != 0) body["weight"] = weight;
    if (!region.empty()) body["region"] = region;
    const json added = api.post(array_path() + "/instances", body);
    if (json_output) return print_json(added);
    std::printf("%s instance %s (%s) added\n", name.c_str(), cell(added["id"]).c_str(), cell(added["address"]).c_str());
    for (const json& warning : added.value("warnings", json::array())) std::printf("warning: %s\n", cell(warning).c_str());
    return kExitOk;
  }
  if (drain->parsed()) return set_state(api, "draining");
  if (enable->parsed()) return set_state(api, "enabled");
  if (disable->parsed()) return set_state(api, "disabled");
  if (remove->parsed()) {
    const int64_t id = instance_id(api);
    api.remove(array_path() + "/instances/" + std::to_string(id));
    if (!json_output) std::printf("%s instance %lld removed\n", name.c_str(), static_cast<long long>(id));
    return kExitOk;
  }
  if (set_weight->parsed()) {
    const int64_t id = instance_id(api);
    const json updated = api.patch(array_path() + "/instances/" + std::to_string(id), {{"weight", weight}});
    if (json_output) return print_json(updated);
    std::printf("%s instance %lld (%s): weight %d\n", name.c_str(), static_cast<long long>(id),
                cell(updated["address"]).c_str(), weight);
    return kExitOk;
  }
  throw CtlError(kExitUsage, "no command given");
}

}  // namespace rotor::api::ctl
