#pragma once
// Shared by the registry tests: a scratch directory and small builders.

#include <SQLiteCpp/SQLiteCpp.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/arrays/array.h"
#include "server/registry/registry.h"

namespace rotor::registry::test {

// A fresh directory under TMPDIR, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rotor-registry-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline arrays::InstanceSpec instance(const char* address, uint16_t weight = 100,
                                     std::string region = "") {
  arrays::InstanceSpec spec;
  spec.address = *arrays::IpAddress::parse(address);
  spec.weight = weight;
  spec.region = std::move(region);
  return spec;
}

// Makes every write matching `event` (e.g. "INSERT ON instances") fail, through a
// second connection, the way a full disk or an I/O error would: works as root,
// unlike a read-only file.
inline void make_writes_fail(const std::string& db_path, const std::string& event,
                             const std::string& name = "rotor_test_failure") {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec("CREATE TRIGGER " + name + " BEFORE " + event +
          " BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
}

inline void let_writes_succeed(const std::string& db_path,
                               const std::string& name = "rotor_test_failure") {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec("DROP TRIGGER " + name);
}

// The audit story both stores must tell alike (registry_test.cc with
// SQLite, etcd_store_test.cc with etcd): API writes of every kind, a health
// transition and the config's writes, in lb.example.com. Returns each event
// as "kind source token | address | reason | old -> new" (ids differ by store).
inline std::vector<std::string> tell_audit_story(Registry& registry) {
  const char* web = "web.lb.example.com.";
  arrays::ArraySettings settings;
  registry.upsert_array(web, settings, "ci");
  settings.ttl = 60;
  settings.policy = arrays::Policy::weighted;
  registry.upsert_array(web, settings, "ops");
  registry.upsert_array(web, settings, "ops");  // no change: no event
  const arrays::Instance added = registry.add_instance(web, instance("192.0.2.1"), "ci");
  arrays::InstanceSpec changed = instance("192.0.2.2", 7, "eu");
  changed.lat = 52.5;
  changed.lon = 13.25;
  changed.state = arrays::AdminState::draining;
  changed.check = R"({"port":8081})";
  registry.update_instance(web, added.id, changed, "ops");
  registry.update_instance(web, added.id, changed, "ops");  // no change: no event
  registry.set_health(added.id, arrays::Health::down, "timeout");
  registry.replace_instances(web, {changed, instance("192.0.2.3")}, "ci");
  registry.remove_instance(web, added.id, "");
  registry.apply_config_arrays({{"cfg.lb.example.com.", {}, {instance("192.0.2.9")}, "rotor.json: arrays[0]"}});
  registry.delete_array(web, "ops");
  std::vector<std::string> lines;
  for (const Event& event : registry.events(0, 100)) {
    lines.push_back(event.kind + " " + (event.source.empty() ? "-" : event.source) + " " +
                    (event.token.empty() ? "-" : event.token) + " | " + event.address + " | " +
                    event.reason + " | " + event.old_value + " -> " + event.new_value);
  }
  return lines;
}

inline const std::vector<std::string> kAuditStory = {
    R"(admin api ci |  | array created |  -> {"policy":"round_robin","ttl":30,"degraded_ttl":10,"max_answers":0,"when_all_down":"all"})",
    R"(admin api ops |  | array updated: policy, ttl | {"policy":"round_robin","ttl":30} -> {"policy":"weighted","ttl":60})",
    R"(admin api ci | 192.0.2.1 | instance added |  -> {"address":"192.0.2.1","weight":100,"state":"enabled"})",
    R"(admin api ops | 192.0.2.2 | instance changed: address, weight, region, lat, lon, state, check | )"
    R"({"address":"192.0.2.1","weight":100,"region":null,"lat":null,"lon":null,"state":"enabled","check":null} -> )"
    R"({"address":"192.0.2.2","weight":7,"region":"eu","lat":52.5,"lon":13.25,"state":"draining","check":{"port":8081}})",
    "health - - | 192.0.2.2 | timeout | unknown -> down",
    R"(admin api ci | 192.0.2.3 | instance added |  -> {"address":"192.0.2.3","weight":100,"state":"enabled"})",
    R"(admin api - | 192.0.2.2 | instance removed | {"address":"192.0.2.2","weight":7,"region":"eu","lat":52.5,"lon":13.25,"state":"draining","check":{"port":8081}} -> )",
    R"(admin config - |  | array created |  -> {"policy":"round_robin","ttl":30,"degraded_ttl":10,"max_answers":0,"when_all_down":"all"})",
    R"(admin config - | 192.0.2.9 | instance added |  -> {"address":"192.0.2.9","weight":100,"state":"enabled"})",
    R"(admin api ops |  | array deleted | {"policy":"weighted","ttl":60,"degraded_ttl":10,"max_answers":0,"when_all_down":"all","instances":1} -> )",
};

}  // namespace rotor::registry::test
