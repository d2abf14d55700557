// The config parser: any text in, a Config or a ConfigError out. Any other
// exception escapes and ends the run (std::terminate names its type), since
// rotor's startup reports only ConfigError with a key path. An accepted
// config then goes where startup takes it: the geo tables (whose own
// exceptions startup turns into ConfigError, as app/registry_setup.cc does)
// and the arrays' answer-side state.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "server/arrays/array_state.h"
#include "server/config/config.h"
#include "zones/zone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rotor;
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::Config config;
  try {
    config = config::parse_config(text, "fuzz.json");
    config::resolve_api(config, nullptr);
  } catch (const config::ConfigError&) {
    return 0;
  }
  std::shared_ptr<const geo::RegionTable> regions;
  try {
    regions = geo::RegionTable::build(config.regions);
    for (const geo::NetworkSpec& network : config.networks) regions = regions->with_label(network.region);
    geo::NetworkTable::build(config.networks, *regions);
  } catch (const std::exception&) {
    return 0;
  }
  uint32_t slot = 0;
  for (const config::ArrayConfig& array : config.arrays) {
    std::vector<arrays::Instance> instances;
    for (const config::ArrayInstance& given : array.instances) {
      arrays::Instance instance;
      instance.id = static_cast<int64_t>(instances.size()) + 1;
      instance.spec = given.spec;
      instance.health = given.health.value_or(arrays::Health::unknown);
      if (!instance.spec.region.empty()) regions = regions->with_label(instance.spec.region);
      instances.push_back(std::move(instance));
    }
    // The config accepted the name, so it must convert.
    const auto name = zones::name_from_text(array.name);
    if (!name) __builtin_trap();
    arrays::ArrayState::build(*name, slot++, array.settings, std::move(instances), *regions);
  }
  return 0;
}
