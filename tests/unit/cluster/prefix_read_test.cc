// cluster::read_prefix against a real one-member etcd on loopback: a prefix
// of many more keys than one page, laid out as store_codec.h writes it (and
// a few keys it does not predict), read at one revision while the keys change.
#include "server/cluster/prefix_read.h"

#include <doctest/doctest.h>

#include <string>

#include "server/cluster/store_codec.h"
#include "tests/support/etcd_cluster.h"

namespace rotor::cluster {
namespace {

using testing::EtcdCluster;

constexpr int kArrays = 30;
constexpr int kInstancesPerArray = 5;
constexpr int kEvents = 20;
constexpr int64_t kPageSize = 10;

std::string array_name(int index) { return "a" + std::to_string(index) + ".lb.example.com."; }

// What a node's store writes, with 2 observers per instance, plus keys of no
// known section and an instance without its array. Returns how many keys.
int write_layout(EtcdClient& client) {
  const std::string prefix = EtcdCluster::kPrefix;
  int keys = 0;
  const auto put = [&](const std::string& key) {
    client.put(prefix + key, "value of " + key);
    ++keys;
  };
  int64_t id = 1;
  for (int array = 0; array < kArrays; ++array) {
    put(codec::array_key(array_name(array)));
    for (int instance = 0; instance < kInstancesPerArray; ++instance, ++id) {
      put(codec::instance_key(array_name(array), id));
      put(codec::health_key(id));
      put(std::string(codec::kObservations) + std::to_string(id) + "/ns1");
      put(std::string(codec::kObservations) + std::to_string(id) + "/ns2");
    }
  }
  for (int event = 0; event < kEvents; ++event) put(codec::event_key(1000 + event, "ns1", event));
  put(std::string(codec::kIdCounter));
  put(codec::zone_key("lb.example.com."));
  put(std::string(codec::kNodes) + "ns1");
  put(codec::instance_key("orphan.lb.example.com.", 9999));
  put("unknown/key");
  client.put("/other/key", "outside the prefix");
  return keys;
}

TEST_SUITE("unit/cluster/prefix_read") {
  TEST_CASE("a read of many pages returns exactly the prefix at its revision in bounded ranges") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const int keys = write_layout(client);
    const std::string prefix = EtcdCluster::kPrefix;
    const std::string first_array = prefix + codec::array_key(array_name(0));
    const std::string some_health = prefix + codec::health_key(7);

    // After the first request (which fixes the revision), the keys change.
    int pages = 0;
    const PrefixReadOptions options{.page_size = kPageSize, .after_page = [&] {
      if (++pages != 1) return;
      client.put(prefix + codec::array_key("late.lb.example.com."), "written during the read");
      client.delete_range(first_array);
      client.put(some_health, "rewritten during the read");
      client.put(prefix + "zz/late", "written during the read");
    }};
    const PrefixSnapshot read = read_prefix(client, prefix, options);

    const RangeResult expected = client.range(prefix, prefix_end(prefix), read.revision);
    REQUIRE(expected.kvs.size() == static_cast<size_t>(keys));
    REQUIRE(read.entries.size() == expected.kvs.size());
    for (const KeyValue& kv : expected.kvs) {
      const auto found = read.entries.find(kv.key.substr(prefix.size()));
      REQUIRE(found != read.entries.end());
      CHECK(found->second.value == kv.value);
      CHECK(found->second.mod_revision == kv.mod_revision);
      CHECK(found->second.create_revision == kv.create_revision);
    }
    CHECK_FALSE(read.entries.contains(codec::array_key("late.lb.example.com.")));
    CHECK_FALSE(read.entries.contains("zz/late"));
    CHECK(read.entries.contains(codec::array_key(array_name(0))));
    CHECK(read.entries.at(codec::health_key(7)).value == "value of " + codec::health_key(7));
    CHECK(read.cluster_id == expected.cluster_id);
    CHECK(read.cluster_id != 0);

    // No request walked more than the largest section paged whole
    // (arrays/), let alone the prefix.
    CHECK(read.requests > keys / kPageSize);
    CHECK(read.largest_range <= kArrays);
  }

  TEST_CASE("a read whose revision is compacted meanwhile fails as compacted") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    write_layout(client);
    int pages = 0;
    const PrefixReadOptions options{.page_size = kPageSize, .after_page = [&] {
      if (++pages != 1) return;
      client.compact(client.put("/other/key", "newer"));
    }};
    try {
      read_prefix(client, EtcdCluster::kPrefix, options);
      FAIL("the read did not notice the compaction");
    } catch (const EtcdError& error) {
      CHECK(error.kind == EtcdError::Kind::compacted);
    }
  }
}

}  // namespace
}  // namespace rotor::cluster
