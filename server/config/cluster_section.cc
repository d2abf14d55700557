#include "server/config/cluster_section.h"

#include <cctype>

namespace rotor::config {

using namespace json_fields;

namespace {

constexpr size_t kMaxNodeName = 63;
// A held down vote is not counted by anyone: beyond a minute it would hide
// real failures for longer than any probe interval an operator would choose.
constexpr std::chrono::milliseconds kMaxDownHold = std::chrono::minutes(1);

std::chrono::milliseconds duration(const json& value, const std::string& path,
                                   std::chrono::milliseconds minimum) {
  if (!value.is_string()) wrong_type(path, "a duration string like \"10s\"", value);
  const auto parsed = parse_duration(value.get<std::string>(), path);
  if (parsed < minimum) {
    throw ConfigError(path, "must be at least " + std::to_string(minimum.count()) + "ms");
  }
  return parsed;
}

void parse_tls(const json& object, ClusterConfig& cluster) {
  const std::string base = "cluster.etcd.tls";
  for (const auto& [key, value] : expect_object(object, base).items()) {
    const std::string path = join_path(base, key);
    std::string& file = key == "ca" ? cluster.tls_ca
                        : key == "cert" ? cluster.tls_cert
                        : key == "key" ? cluster.tls_key
                                       : throw ConfigError(path, "unknown key");
    file = expect_string(value, path);
    if (file.empty()) throw ConfigError(path, "empty file name");
  }
  if (cluster.tls_cert.empty() != cluster.tls_key.empty()) {
    throw ConfigError(base, "give both cert and key, or neither");
  }
}

void parse_etcd(const json& object, ClusterConfig& cluster) {
  const std::string base = "cluster.etcd";
  for (const auto& [key, value] : expect_object(object, base).items()) {
    const std::string path = join_path(base, key);
    if (key == "endpoints") {
      expect_array(value, path);
      if (value.empty()) throw ConfigError(path, "at least one endpoint is needed");
      cluster.endpoints.clear();
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item = index_path(path, i);
        check_etcd_endpoint(expect_string(value[i], item), item);
        cluster.endpoints.push_back(value[i].get<std::string>());
      }
    } else if (key == "prefix") {
      cluster.prefix = expect_string(value, path);
      if (cluster.prefix.size() < 2 || cluster.prefix.front() != '/' || cluster.prefix.back() != '/') {
        throw ConfigError(path, "expected a key prefix like \"/rotor/\", starting and ending with '/'");
      }
    } else if (key == "username") {
      cluster.username = expect_string(value, path);
    } else if (key == "password") {
      throw ConfigError(path, "not read from the file: set ROTOR_ETCD_PASSWORD");
    } else if (key == "tls") {
      parse_tls(value, cluster);
    } else if (key == "lease_ttl") {
      cluster.lease_ttl = duration(value, path, std::chrono::seconds(2));
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

}  // namespace

void check_etcd_endpoint(const std::string& url, const std::string& path) {
  const auto scheme = url.find("://");
  const std::string name = scheme == std::string::npos ? "" : url.substr(0, scheme);
  if ((name != "http" && name != "https") || url.size() <= scheme + 3) {
    throw ConfigError(path, "expected a URL like \"http://127.0.0.1:2379\", got \"" + url + "\"");
  }
}

void check_node_name(const std::string& node, const std::string& path) {
  if (node.empty() || node.size() > kMaxNodeName) {
    throw ConfigError(path, "expected 1 to " + std::to_string(kMaxNodeName) + " characters");
  }
  for (char c : node) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      throw ConfigError(path, "\"" + node + "\" may hold only letters, digits, '-', '_' and '.'");
    }
  }
}

ClusterConfig parse_cluster(const json& object) {
  ClusterConfig cluster;
  for (const auto& [key, value] : expect_object(object, "cluster").items()) {
    const std::string path = join_path("cluster", key);
    if (key == "node") {
      cluster.node = expect_string(value, path);
      check_node_name(cluster.node, path);
    } else if (key == "region") {
      cluster.region = expect_string(value, path);
      if (cluster.region.size() > 63) throw ConfigError(path, "longer than 63 characters");
    } else if (key == "etcd") {
      parse_etcd(value, cluster);
    } else if (key == "isolation_fallback") {
      cluster.isolation_fallback = duration(value, path, std::chrono::seconds(1));
    } else if (key == "down_hold") {
      cluster.down_hold = duration(value, path, std::chrono::milliseconds(0));
      if (cluster.down_hold > kMaxDownHold) {
        throw ConfigError(path, "must be at most " + std::to_string(kMaxDownHold.count()) + "ms");
      }
    } else if (key == "abstain_share") {
      if (!value.is_number()) wrong_type(path, "a number", value);
      cluster.abstain_share = value.get<double>();
      if (!(cluster.abstain_share > 0 && cluster.abstain_share <= 1)) {
        throw ConfigError(path, "expected more than 0 and at most 1");
      }
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
  return cluster;
}

std::vector<std::string> parse_etcd_flag(const std::vector<std::string>& values) {
  std::vector<std::string> endpoints;
  for (const std::string& value : values) {
    size_t start = 0;
    for (;;) {
      const size_t comma = value.find(',', start);
      const std::string url = value.substr(start, comma == std::string::npos ? comma : comma - start);
      check_etcd_endpoint(url, "--etcd");
      endpoints.push_back(url);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return endpoints;
}

}  // namespace rotor::config
