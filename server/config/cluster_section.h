#pragma once
// The config's "cluster" section and the --etcd/--node flags (config.cc
// calls these; not a public interface). Unknown keys are errors naming the
// path ("cluster.etcd.tls.ca").

#include <string>
#include <vector>

#include "server/config/config.h"
#include "server/common/json_fields.h"

namespace rotor::config {

ClusterConfig parse_cluster(const json_fields::json& object);

// --etcd: URLs, each flag value possibly a comma-separated list.
std::vector<std::string> parse_etcd_flag(const std::vector<std::string>& values);

// The endpoint must be http:// or https:// with a host.
void check_etcd_endpoint(const std::string& url, const std::string& path);

// A node name goes into etcd keys: letters, digits, '-', '_' and '.'.
void check_node_name(const std::string& node, const std::string& path);

}  // namespace rotor::config
