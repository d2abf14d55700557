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

#include "server/net/parking_lot.h"
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
  // Queries waiting for a late signature (parking_lot.h): at most this many.
  static constexpr size_t kParkedSlots = 256;

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

  // Where a parked query's late answer goes.
  struct Peer {
    int fd = -1;
    sockaddr_storage address{};
    socklen_t address_length = 0;
    Control control{};
    socklen_t control_length = 0;
  };
  using Parked = ParkingLot<Peer, kParkedSlots>;

  static void on_readable(uv_poll_t* handle, int status, int events);
  // Holds query `i` of the batch until its signature comes; false: dropped.
  void park(const Socket& socket, size_t i) noexcept;
  // Answers one parked query whose NSEC was signed (`result`).
  void answer_late(Parked::Slot& slot, const dnssec::SignedDenial& result, uint8_t* reply) noexcept;
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
  Parked parked_;
};

}  // namespace rotor::net
