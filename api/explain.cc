#include "api/explain.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "api/api_error.h"
#include "api/health_views.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "server/arrays/array_state.h"
#include "server/arrays/fallback.h"
#include "server/common/utc_time.h"
#include "server/dns/wire.h"
#include "server/query/responder.h"
#include "zones/zone.h"

namespace rotor::api {

namespace {

using nlohmann::json;

constexpr uint16_t kQueryId = 0x5254;
constexpr uint16_t kUdpPayload = 1232;

void put_u16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

std::string lower_wire(const std::string& name) {
  auto wire = zones::lower_name_from_text(name);
  if (!wire || name.empty()) throw ApiError(400, "name: \"" + name + "\" is not a domain name", "name");
  return *wire;
}

// A query as a stub resolver would send it: no RD, EDNS with our payload
// size, and the client subnet option when asked.
std::vector<uint8_t> build_query(const std::string& wire_name, const ExplainRequest& request) {
  std::vector<uint8_t> query;
  put_u16(query, kQueryId);
  put_u16(query, 0);  // flags: a plain query
  put_u16(query, 1);  // QDCOUNT
  put_u16(query, 0);
  put_u16(query, 0);
  put_u16(query, 1);  // ARCOUNT: the OPT record
  query.insert(query.end(), wire_name.begin(), wire_name.end());
  put_u16(query, request.type);
  put_u16(query, dns::rrclass::IN);

  query.push_back(0);  // OPT owner: the root
  put_u16(query, dns::type::OPT);
  put_u16(query, kUdpPayload);
  put_u16(query, 0);  // extended rcode, version
  put_u16(query, 0);  // flags
  if (!request.ecs) {
    put_u16(query, 0);
    return query;
  }
  const auto& ecs = *request.ecs;
  const uint16_t address_bytes = static_cast<uint16_t>((ecs.prefix + 7) / 8);
  put_u16(query, static_cast<uint16_t>(4 + 4 + address_bytes));  // RDLENGTH
  put_u16(query, dns::edns_option::CLIENT_SUBNET);
  put_u16(query, static_cast<uint16_t>(4 + address_bytes));
  put_u16(query, ecs.address.family == 4 ? 1 : 2);
  query.push_back(ecs.prefix);
  query.push_back(0);  // scope prefix: 0 in queries (RFC 7871 6)
  query.insert(query.end(), ecs.address.bytes, ecs.address.bytes + address_bytes);
  return query;
}

sockaddr_storage socket_address(const arrays::IpAddress& address) {
  sockaddr_storage storage{};
  if (address.family == 4) {
    auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
    v4.sin_family = AF_INET;
    v4.sin_port = htons(53535);
    std::memcpy(&v4.sin_addr, address.bytes, 4);
  } else {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(53535);
    std::memcpy(&v6.sin6_addr, address.bytes, 16);
  }
  return storage;
}

// What explain reports of the reply, decoded from its bytes.
struct DecodedReply {
  json answer;
  // The lower-case wire name the answer's CNAME chain ends at; empty: no CNAME.
  std::string cname_target;
};

// The ECS option of an OPT record's RDATA: {"source_prefix", "scope"}; null
// when there is none.
json client_subnet_option(const uint8_t* rdata, size_t length) {
  for (size_t at = 0; at + 4 <= length;) {
    const uint16_t code = dns::read_u16(rdata + at);
    const uint16_t size = dns::read_u16(rdata + at + 2);
    if (at + 4 + size > length) break;
    if (code == dns::edns_option::CLIENT_SUBNET && size >= 4) {
      return {{"source_prefix", rdata[at + 6]}, {"scope", rdata[at + 7]}};
    }
    at += 4 + size;
  }
  return nullptr;
}

// The parts of the reply explain reports: rcode, flags, the CNAMEs and the
// A/AAAA records of the answer section in the order the reply carries them,
// and the ECS option of its OPT record (the scope the reply really carries).
DecodedReply decode_reply(const uint8_t* reply, size_t size) {
  DecodedReply out;
  json& answer = out.answer;
  answer = {{"rcode", nullptr},  {"authoritative", false},      {"truncated", false},
            {"cname", json::array()}, {"addresses", json::array()}, {"ttl", nullptr},
            {"ecs", nullptr}};
  if (size < dns::kHeaderSize) return out;
  const uint16_t flags = dns::read_u16(reply + 2);
  answer["rcode"] = dns::rcode_name(flags & 0xF);
  answer["authoritative"] = (flags & dns::flag::AA) != 0;
  answer["truncated"] = (flags & dns::flag::TC) != 0;
  const uint16_t questions = dns::read_u16(reply + 4);
  const uint16_t counts[3] = {dns::read_u16(reply + 6), dns::read_u16(reply + 8),
                              dns::read_u16(reply + 10)};  // answer, authority, additional
  size_t offset = dns::kHeaderSize;
  dns::WireName name;
  for (uint16_t i = 0; i < questions; ++i) {
    if (!dns::read_name(reply, size, offset, name, false) || offset + 4 > size) return out;
    offset += 4;
  }
  for (int section = 0; section < 3; ++section) {
    for (uint16_t i = 0; i < counts[section]; ++i) {
      if (!dns::read_name(reply, size, offset, name, false) || offset + 10 > size) return out;
      const uint16_t type = dns::read_u16(reply + offset);
      const uint32_t ttl = dns::read_u32(reply + offset + 4);
      const uint16_t length = dns::read_u16(reply + offset + 8);
      offset += 10;
      if (offset + length > size) return out;
      if (type == dns::type::OPT) answer["ecs"] = client_subnet_option(reply + offset, length);
      if (section == 0 && type == dns::type::CNAME) {
        size_t target_offset = offset;
        dns::WireName target;
        if (dns::read_name(reply, size, target_offset, target, true)) {
          out.cname_target.assign(target.view());
          answer["cname"].push_back(zones::name_to_text(out.cname_target));
        }
      }
      if (section == 0 && ((type == dns::type::A && length == 4) ||
                           (type == dns::type::AAAA && length == 16))) {
        arrays::IpAddress address;
        address.family = type == dns::type::A ? 4 : 6;
        std::memcpy(address.bytes, reply + offset, length);
        answer["addresses"].push_back(address.to_string());
        if (answer["ttl"].is_null()) answer["ttl"] = ttl;
      }
      offset += length;
    }
  }
  return out;
}

// The address the answerer locates the client by: the subnet, else the source.
geo::ClientAddress client_address(const ExplainRequest& request) {
  geo::ClientAddress out;
  if (request.ecs) {
    out.family = request.ecs->address.family;
    out.prefix = request.ecs->prefix;
    std::memcpy(out.bytes, request.ecs->address.bytes, sizeof out.bytes);
    out.from_ecs = true;
  } else if (request.client) {
    out.family = request.client->family;
    out.prefix = request.client->family == 4 ? 32 : 128;
    std::memcpy(out.bytes, request.client->bytes, sizeof out.bytes);
  }
  return out;
}

// Where the geo lookup the answerer uses puts the client, and the ECS scope
// the reply carries (`ecs` of the decoded reply; null when it carries none).
json client_json(const Snapshot& snapshot, const ExplainRequest& request, const json& reply_ecs) {
  const geo::ClientAddress address = client_address(request);
  json out = {{"source", address.from_ecs ? "ecs" : (address.family != 0 ? "address" : "none")},
              {"region", nullptr},
              {"scope", reply_ecs.is_null() ? json(nullptr) : reply_ecs["scope"]}};
  if (address.family == 0) return out;
  const geo::ClientLocation location = snapshot.geo.locate(address);
  if (location.region != arrays::kNoRegion && snapshot.geo.regions != nullptr) {
    out["region"] = snapshot.geo.regions->name(location.region);
  }
  return out;
}

// The candidate at `address`, or null when it is not one.
const arrays::AnswerInstance* candidate_at(const arrays::FamilyCandidates& candidates,
                                           const arrays::IpAddress& address) {
  const size_t length = address.family == 4 ? 4 : 16;
  const auto found = std::find_if(candidates.instances.begin(), candidates.instances.end(),
                                  [&](const arrays::AnswerInstance& candidate) {
                                    return std::memcmp(candidate.rdata, address.bytes, length) == 0;
                                  });
  return found == candidates.instances.end() ? nullptr : &*found;
}

// The instance's slow-start ramp at `now_ms`: {"remaining_ms", "until"}, or
// null when none runs.
json slow_start_json(const arrays::ArrayState& array, const arrays::Instance& instance, int64_t now_ms) {
  const int64_t period = array.settings.slow_start_ms;
  if (period <= 0 || instance.slow_start_from_ms == 0 || instance.health != arrays::Health::up) {
    return nullptr;
  }
  const int64_t until = instance.slow_start_from_ms + period;
  if (until <= now_ms) return nullptr;
  return {{"since_ms", instance.slow_start_from_ms}, {"remaining_ms", until - now_ms},
          {"until", utc_text(until)}};
}

// Why the model does or does not offer the instance for this family.
std::string reason(const arrays::ArrayState& array, const arrays::FamilyCandidates& candidates,
                   const arrays::Instance& instance, uint8_t family, bool candidate) {
  if (instance.spec.address.family != family) return "other family";
  if (instance.spec.state == arrays::AdminState::disabled) return "disabled";
  if (instance.spec.state == arrays::AdminState::draining) return "draining";
  if (instance.reported_draining) return "draining: the backend reports Rotor-State: draining";
  if (instance.reported_weight == 0) return "the backend reports Rotor-Weight: 0 (no new clients)";
  if (candidate) {
    if (candidates.failed_open) return "no instance is healthy: when_all_down all answers every enabled one";
    if (candidates.panic) {
      return "panic mode: " + std::to_string(candidates.healthy_count) + " of " +
             std::to_string(candidates.enabled_count) + " enabled instances healthy, below min_healthy " +
             json(array.settings.min_healthy).dump() + ": every enabled one is answered";
    }
    if (instance.health == arrays::Health::unknown) return "health unknown (not checked yet) counts as healthy";
    return "healthy";
  }
  if (instance.health == arrays::Health::down) {
    return array.settings.when_all_down == arrays::WhenAllDown::none && candidates.instances.empty()
               ? "down (every instance is down and when_all_down is none)"
               : "down";
  }
  return "not a candidate";
}

// How the effective weight comes about: the configured weight, scaled by
// what the backend reports (check.weight_from_response).
std::string weight_reason(const arrays::Instance& instance) {
  const std::string configured = "configured " + std::to_string(instance.spec.weight);
  if (instance.reported_draining) return configured + ", but the backend reports draining: 0";
  if (instance.reported_weight == 100) return configured;
  return configured + " x " + std::to_string(instance.reported_weight) + "% reported by the backend (Rotor-Weight) = " +
         std::to_string(arrays::reported_effective_weight(instance));
}

json array_json(const arrays::ArrayState& array, uint8_t family, const json& answered,
               const std::function<json(const arrays::Instance&)>& health_detail) {
  const arrays::FamilyCandidates& candidates = family == 4 ? array.v4 : array.v6;
  json instances = json::array();
  const int64_t now = unix_now_ms();
  for (const arrays::Instance& instance : array.instances) {
    const arrays::AnswerInstance* offered =
        instance.spec.address.family == family ? candidate_at(candidates, instance.spec.address) : nullptr;
    const bool candidate = offered != nullptr;
    const std::string address = instance.spec.address.to_string();
    const bool in_answer =
        std::find(answered.begin(), answered.end(), json(address)) != answered.end();
    instances.push_back({{"id", instance.id},
                         {"address", address},
                         {"state", std::string(arrays::to_string(instance.spec.state))},
                         {"health", std::string(arrays::to_string(instance.health))},
                         {"region", instance.spec.region.empty() ? json(nullptr) : json(instance.spec.region)},
                         {"weight", instance.spec.weight},
                         {"effective_weight", offered != nullptr ? json(offered->weight) : json(nullptr)},
                         {"weight_reason", weight_reason(instance)},
                         {"slow_start", slow_start_json(array, instance, now)},
                         {"candidate", candidate},
                         {"answered", in_answer},
                         {"reason", reason(array, candidates, instance, family, candidate)}});
    if (health_detail) {
      json& reported = instances.back();
      reported.update(health_detail(instance));
      const auto damping = reported.find("damping");
      if (damping != reported.end() && damping->is_object() && !candidate &&
          instance.health == arrays::Health::down) {
        reported["reason"] = (*damping)["reason"];
      }
    }
  }
  return {{"name", array.name_text},
          {"policy", std::string(arrays::to_string(array.settings.policy))},
          {"max_answers", array.settings.max_answers},
          {"when_all_down", std::string(arrays::to_string(array.settings.when_all_down))},
          {"degraded", array.degraded},
          {"failed_open", candidates.failed_open},
          {"min_healthy", array.settings.min_healthy},
          {"panic", candidates.panic},
          {"slow_start_ms", array.settings.slow_start_ms},
          {"answer_ttl", array.answer_ttl},
          {"fallback", array.settings.fallback.empty() ? json(nullptr) : json(array.settings.fallback)},
          {"instances", std::move(instances)}};
}

std::optional<arrays::IpAddress> parse_address(const std::string& text, const char* field) {
  auto address = arrays::IpAddress::parse(text);
  if (!address) {
    throw ApiError(400, std::string(field) + ": \"" + text + "\" is not an IPv4 or IPv6 address",
                   field);
  }
  return address;
}

ExplainRequest::Subnet parse_subnet(const std::string& text) {
  const auto fail = [&]() -> ExplainRequest::Subnet {
    throw ApiError(400, "ecs: \"" + text + "\" is not a network like \"192.0.2.0/24\"", "ecs");
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos) return fail();
  auto address = arrays::IpAddress::parse(text.substr(0, slash));
  unsigned prefix = 0;
  const char* begin = text.data() + slash + 1;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(begin, end, prefix);
  if (!address || begin == end || error != std::errc() || stop != end ||
      prefix > (address->family == 4 ? 32u : 128u)) {
    return fail();
  }
  // RFC 7871 6: bits beyond the source prefix must be zero.
  for (unsigned bit = prefix; bit < 128; ++bit) {
    address->bytes[bit / 8] = static_cast<uint8_t>(address->bytes[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  return {*address, static_cast<uint8_t>(prefix)};
}

}  // namespace

ExplainRequest parse_explain_request(const std::optional<std::string>& name,
                                     const std::optional<std::string>& type,
                                     const std::optional<std::string>& client,
                                     const std::optional<std::string>& ecs) {
  ExplainRequest request;
  if (!name || name->empty()) throw ApiError(400, "name: missing; give ?name=", "name");
  lower_wire(*name);  // validates
  request.name = *name;
  if (type) {
    std::string upper = *type;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper == "A") {
      request.type = dns::type::A;
    } else if (upper == "AAAA") {
      request.type = dns::type::AAAA;
    } else {
      throw ApiError(400, "type: expected A or AAAA, got \"" + *type + "\"", "type");
    }
  }
  if (client) request.client = parse_address(*client, "client");
  if (ecs) request.ecs = parse_subnet(*ecs);
  return request;
}

json explain(const Snapshot& snapshot, const ExplainRequest& request,
             const std::function<json(const arrays::Instance&)>& health_detail) {
  const std::string wire_name = lower_wire(request.name);
  const std::vector<uint8_t> query = build_query(wire_name, request);

  sockaddr_storage source{};
  ClientInfo client;
  client.transport = Transport::udp;
  if (request.client) {
    source = socket_address(*request.client);
    client.address = reinterpret_cast<const sockaddr*>(&source);
  }
  // A fresh worker state: the rotation starts at its first turn, where real
  // workers are somewhere along it.
  WorkerState state;
  prepare_worker_state(snapshot, state);
  std::vector<uint8_t> reply(kReplyBufferSize);
  const size_t size = answer_query(snapshot, query, client, reply, state);

  const uint8_t family = request.type == dns::type::A ? 4 : 6;
  const DecodedReply decoded = decode_reply(reply.data(), size);
  const json& answer = decoded.answer;
  // A CNAME into an array: the array is the one the chain ends at.
  const arrays::ArrayState* array =
      snapshot.arrays->find(decoded.cname_target.empty() ? wire_name : decoded.cname_target);
  json out = {{"query",
               {{"name", request.name},
                {"type", request.type == dns::type::A ? "A" : "AAAA"},
                {"client", request.client ? json(request.client->to_string()) : json(nullptr)},
                {"ecs", request.ecs ? json(request.ecs->address.to_string() + "/" +
                                           std::to_string(request.ecs->prefix))
                                    : json(nullptr)}}},
              {"answer", answer},
              {"client", client_json(snapshot, request, answer["ecs"])},
              {"array", array != nullptr ? array_json(*array, family, answer["addresses"], health_detail)
                                         : json(nullptr)},
              {"answered_from_fallback", nullptr},
              {"generation", snapshot.generation}};
  if (array != nullptr) {
    // Nothing healthy of this family: the answer may be the fallback chain's (fallback.h).
    const arrays::AnsweringArray answering = arrays::resolve_fallback(*snapshot.arrays, *array, family);
    if (answering.hops > 0) {
      out["answered_from_fallback"] = array_json(*answering.array, family, answer["addresses"], health_detail);
      out["answered_from_fallback"]["hops"] = answering.hops;
    }
  }
  return out;
}

void add_explain_routes(Router& router, ApiContext& context) {
  router.add("GET", "/v1/explain", [&context](const RouteRequest& request, httplib::Response& response) {
    const auto parameter = [&](const char* key) -> std::optional<std::string> {
      if (!request.http.has_param(key)) return std::nullopt;
      return request.http.get_param_value(key);
    };
    const ExplainRequest explain_request =
        parse_explain_request(parameter("name"), parameter("type"), parameter("client"), parameter("ecs"));
    reply_json(response, 200, explain(*context.publisher.current(), explain_request,
                                      [&context](const arrays::Instance& instance) {
                                        json detail = observers_json(context, instance);
                                        detail["damping"] = damping_json(
                                            context.last_check ? context.last_check(instance.id)
                                                               : std::nullopt);
                                        return detail;
                                      }));
  }, {"name", "type", "client", "ecs"});
}

}  // namespace rotor::api
