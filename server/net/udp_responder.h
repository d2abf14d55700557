#pragma once
// A worker's UDP side: its SO_REUSEPORT sockets, each watched by a uv_poll and
// drained in batches with recvmmsg, answered into preallocated slots and
// replied to with one sendmmsg per batch. Nothing is allocated per packet.

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <memory>
#include <vector>

#include "server/net/socket.h"
#include "server/net/worker_context.h"

namespace rotor::net {

class UdpResponder {
 public:
  explicit UdpResponder(WorkerContext& context);
  UdpResponder(const UdpResponder&) = delete;
  UdpResponder& operator=(const UdpResponder&) = delete;

  // Starts serving a bound UDP socket on the context's loop. Throws
  // std::runtime_error if libuv refuses the socket.
  void add_socket(UniqueFd fd, bool wildcard);
  // Closes every poll handle; the sockets are closed once the loop has run the
  // close callbacks (or when this object is destroyed).
  void close() noexcept;

  // Answers the queries parked for `result`'s name (or drops them when it
  // failed). Worker thread, between batches.
  void answer_parked(const dnssec::SignedDenial& result) noexcept;

  static constexpr size_t kBatch = 32;
  // Batches per readable event before yielding to the loop, so a UDP flood
  // cannot starve the TCP connections of the same worker.
  static constexpr int kBatchesPerWakeup = 8;
  static constexpr size_t kQuerySize = 4096;  // larger datagrams are dropped
  static constexpr size_t kReplySize = 4096;  // answer_query's UDP minimum
  // Queries waiting for a compact denial's signature: at most this many, of
  // at most kParkedQuerySize octets, for at most kParkedMs.
  static constexpr size_t kParkedSlots = 256;
  static constexpr size_t kParkedQuerySize = 512;
  static constexpr uint64_t kParkedMs = 2000;

 private:
  struct Socket {
    uv_poll_t poll;
    UniqueFd fd;
    bool wildcard = false;  // replies must leave from the address the query hit
    UdpResponder* owner = nullptr;
  };
  // Room for the IP_PKTINFO / IPV6_PKTINFO of one datagram.
  static constexpr size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo));
  struct alignas(cmsghdr) Control {
    uint8_t bytes[kControlSize];
  };

  struct Parked {
    bool used = false;
    uint64_t since_ms = 0;
    int fd = -1;
    const zones::OnlineSigner* key = nullptr;
    dnssec::FixedName owner;
    uint16_t size = 0;
    uint8_t query[kParkedQuerySize];
    sockaddr_storage peer{};
    socklen_t peer_length = 0;
    Control control{};
    socklen_t control_length = 0;
  };

  static void on_readable(uv_poll_t* handle, int status, int events);
  // Holds query `i` of the batch until its signature comes; false: dropped.
  void park(const Socket& socket, size_t i) noexcept;
  // After a late answer still waits for another NSEC than `result`'s (a
  // chain that needs two): asks for it and keeps `slot` (true), or drops the
  // query and counts it (true when the request ring was full); false when it
  // waits for the same NSEC again (the caller drops it).
  bool repark(Parked& slot, const dnssec::SignedDenial& result) noexcept;
  // Response rate limiting of one reply; false: not to be sent.
  bool admit(const sockaddr* client, uint8_t* reply, size_t& length, uint32_t now_seconds) noexcept;
  void drain(Socket& socket) noexcept;
  size_t answer_batch(const Socket& socket, size_t received) noexcept;
  void send_batch(int fd, size_t count) noexcept;

  WorkerContext& context_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::array<mmsghdr, kBatch> received_{};
  std::array<iovec, kBatch> received_iov_{};
  std::array<mmsghdr, kBatch> replies_{};
  std::array<iovec, kBatch> replies_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  std::array<Control, kBatch> controls_{};
  std::unique_ptr<uint8_t[]> query_buffers_;  // kBatch * kQuerySize
  std::unique_ptr<uint8_t[]> reply_buffers_;  // kBatch * kReplySize
  std::unique_ptr<Parked[]> parked_;          // kParkedSlots
};

}  // namespace rotor::net
