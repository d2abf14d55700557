#pragma once
// Reads every key under the cluster's etcd prefix at one revision (the first
// request's), in requests whose cost does not grow with the rest of the
// prefix. etcd 3.4 answers a range with a limit by collecting every key from
// `key` to `range_end` and then cutting, so paging a whole prefix from the
// last key read to its end costs O(keys left) per page: a quadratic read
// (100,000 arrays x 10 instances took 469 s). Here the ranges are bounded
// by the layout of store_codec.h: instances/ in ranges of a few arrays'
// instance prefixes (the arrays/ keys read first), health/ and
// observations/ in ranges of a page's worth of the instance ids read; the
// other sections (arrays/, events/, zones/, counters/, nodes/, unknown keys)
// are paged each on its own: the large ones, arrays/ and events/ (at most
// EtcdStoreOptions::events.max_count), still cost the square of their own size
// over the page (100,000 arrays: 100 pages walking 50,000 keys on average),
// but not of the prefix's. The ranges cover the prefix without gaps, so a key
// the layout does not predict is still read; only the bound assumes it.
//
// Contract: a free function, thread-safe as the client is. EtcdError from
// the client propagates (`compacted` when the revision is compacted during
// the read: read again).

#include <cstdint>
#include <functional>
#include <string>

#include "server/cluster/etcd_client.h"
#include "server/cluster/mirror_cache.h"

namespace rotor::cluster {

struct PrefixReadOptions {
  int64_t page_size = 1000;  // keys per request (etcd's limit)
  std::function<void()> after_page;  // tests: called after each request
};

struct PrefixSnapshot {
  MirrorMap entries;  // keys relative to the prefix
  int64_t revision = 0;
  uint64_t cluster_id = 0;  // the etcd cluster that answered
  // What the read cost: range requests, and the most keys one of them made
  // etcd walk (its `count`): bounded by the layout, not by the prefix.
  int64_t requests = 0;
  int64_t largest_range = 0;
};

PrefixSnapshot read_prefix(EtcdClient& client, const std::string& prefix,
                           const PrefixReadOptions& options = {});

}  // namespace rotor::cluster
