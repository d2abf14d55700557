#include "api/instance_body.h"

#include "probes/check_spec.h"
#include "server/config/json_fields.h"
#include "server/config/registry_sections.h"

namespace rotor::api {

arrays::InstanceSpec parse_instance_body(const nlohmann::json& body, const std::string& path,
                                         const arrays::ArraySettings& settings) {
  arrays::InstanceSpec spec =
      config::parse_instance(body, path, config::InstanceFields::without_health).spec;
  if (!spec.check.empty()) {
    probes::effective_check(settings.check, spec.check, config::json_fields::join_path(path, "check"));
  }
  return spec;
}

nlohmann::json merge_instance_patch(nlohmann::json current, const nlohmann::json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      current.erase(key);
    } else {
      current[key] = value;
    }
  }
  return current;
}

}  // namespace rotor::api
