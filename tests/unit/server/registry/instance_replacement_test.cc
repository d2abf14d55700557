// The replace_instances rule both stores follow: kept addresses keep their
// id, others are removed, new ones added, in the order given.
#include "server/registry/instance_replacement.h"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/registry/store.h"

namespace rotor::registry {
namespace {

arrays::InstanceSpec replacement_spec(const char* address) {
  return {.address = *arrays::IpAddress::parse(address)};
}

TEST_SUITE("unit/server/registry/instance_replacement") {
  TEST_CASE("kept addresses keep their id and new ones are added in the given order") {
    const std::vector<arrays::InstanceSpec> specs{replacement_spec("192.0.2.3"), replacement_spec("192.0.2.1"),
                                                  replacement_spec("2001:db8::1")};
    const std::map<std::string, int64_t> existing{
        {"192.0.2.1", 11}, {"192.0.2.2", 12}, {"192.0.2.9", 19}};
    const InstanceReplacement plan = plan_instance_replacement("web.", specs, existing);
    CHECK(plan.removed == std::vector<int64_t>{12, 19});
    REQUIRE(plan.written.size() == 3);
    CHECK(plan.written[0].spec == &specs[0]);
    CHECK_FALSE(plan.written[0].id.has_value());
    CHECK(plan.written[1].spec == &specs[1]);
    CHECK(plan.written[1].id == std::optional<int64_t>(11));
    CHECK(plan.written[2].spec == &specs[2]);
    CHECK_FALSE(plan.written[2].id.has_value());
  }

  TEST_CASE("an empty list removes every instance") {
    const InstanceReplacement plan =
        plan_instance_replacement("web.", {}, {{"192.0.2.1", 1}, {"192.0.2.2", 2}});
    CHECK(plan.removed == std::vector<int64_t>{1, 2});
    CHECK(plan.written.empty());
  }

  TEST_CASE("an address listed twice is a conflict naming the address and the array") {
    const std::vector<arrays::InstanceSpec> specs{replacement_spec("192.0.2.1"), replacement_spec("192.0.2.1")};
    CHECK_THROWS_WITH_AS(plan_instance_replacement("web.lb.example.com.", specs, {}),
                         "address 192.0.2.1 is listed twice for web.lb.example.com.",
                         ConflictError);
  }
}

}  // namespace
}  // namespace rotor::registry
