#include "server/net/udp_responder.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

namespace rotor::net {

namespace {

// Makes `info` the one control message in `out`; returns the control length.
template <typename Info>
socklen_t write_control(uint8_t* out, size_t out_size, int level, int type,
                        const Info& info) noexcept {
  std::memset(out, 0, out_size);
  auto* control = reinterpret_cast<cmsghdr*>(out);
  control->cmsg_level = level;
  control->cmsg_type = type;
  control->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(control), &info, sizeof info);
  return CMSG_SPACE(sizeof info);
}

// Turns the destination address the kernel reported for a query into the
// source address of its reply (a no-op control block when none was reported).
// Only wildcard sockets ask for it: elsewhere the bound address is the source.
socklen_t reply_control(msghdr& received, uint8_t* out, size_t out_size) noexcept {
  for (cmsghdr* c = CMSG_FIRSTHDR(&received); c != nullptr; c = CMSG_NXTHDR(&received, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi_spec_dst = info.ipi_addr;
      info.ipi_ifindex = 0;  // let routing pick the interface, as for a bound socket
      return write_control(out, out_size, IPPROTO_IP, IP_PKTINFO, info);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;  // the interface index is kept: link-local peers need it
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      return write_control(out, out_size, IPPROTO_IPV6, IPV6_PKTINFO, info);
    }
  }
  return 0;
}

}  // namespace

UdpResponder::UdpResponder(WorkerContext& context)
    : context_(context),
      query_buffers_(new uint8_t[kBatch * kQuerySize]),
      reply_buffers_(new uint8_t[kBatch * kReplySize]) {
  for (size_t i = 0; i < kBatch; ++i) {
    received_iov_[i] = {query_buffers_.get() + i * kQuerySize, kQuerySize};
    received_[i].msg_hdr.msg_iov = &received_iov_[i];
    received_[i].msg_hdr.msg_iovlen = 1;
    received_[i].msg_hdr.msg_name = &peers_[i];
    replies_[i].msg_hdr.msg_iov = &replies_iov_[i];
    replies_[i].msg_hdr.msg_iovlen = 1;
  }
}

void UdpResponder::add_socket(UniqueFd fd, bool wildcard) {
  if (wildcard) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length);
    const int on = 1;
    if (local.ss_family == AF_INET6) {
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    } else {
      setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    }
  }
  auto socket = std::make_unique<Socket>();
  socket->fd = std::move(fd);
  socket->wildcard = wildcard;
  socket->owner = this;
  int rc = uv_poll_init_socket(context_.loop, &socket->poll, socket->fd.get());
  if (rc != 0) throw std::runtime_error(std::string("cannot watch UDP socket: ") + uv_strerror(rc));
  socket->poll.data = socket.get();
  sockets_.push_back(std::move(socket));
  rc = uv_poll_start(&sockets_.back()->poll, UV_READABLE, on_readable);
  if (rc != 0) throw std::runtime_error(std::string("cannot watch UDP socket: ") + uv_strerror(rc));
}

void UdpResponder::close() noexcept {
  for (auto& socket : sockets_) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&socket->poll))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->poll), nullptr);
    }
  }
}

void UdpResponder::on_readable(uv_poll_t* handle, int status, int /*events*/) {
  auto* socket = static_cast<Socket*>(handle->data);
  if (status < 0) return;  // the socket stays open; the next event may succeed
  socket->owner->drain(*socket);
}

void UdpResponder::drain(Socket& socket) noexcept {
  for (int round = 0; round < kBatchesPerWakeup; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      msghdr& header = received_[i].msg_hdr;
      header.msg_namelen = sizeof(sockaddr_storage);
      header.msg_control = socket.wildcard ? controls_[i].bytes : nullptr;
      header.msg_controllen = socket.wildcard ? kControlSize : 0;
      header.msg_flags = 0;
    }
    const int received = ::recvmmsg(socket.fd.get(), received_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (received <= 0) return;  // EAGAIN: drained; other errors: retried on the next event
    send_batch(socket.fd.get(), answer_batch(socket, static_cast<size_t>(received)));
    if (static_cast<size_t>(received) < kBatch) return;
  }
}

size_t UdpResponder::answer_batch(const Socket& socket, size_t received) noexcept {
  size_t replies = 0;
  RateLimiter* const limiter = context_.rate_limiter;
  // The loop's cached clock: seconds are all the limiter needs.
  const auto now_seconds =
      limiter != nullptr ? static_cast<uint32_t>(uv_now(context_.loop) / 1000) : 0u;
  // Signatures are checked against the wall clock; one read per batch.
  if (context_.state.denial != nullptr) {
    context_.state.denial->now = static_cast<uint32_t>(std::time(nullptr));
  }
  for (size_t i = 0; i < received; ++i) {
    msghdr& query = received_[i].msg_hdr;
    if ((query.msg_flags & MSG_TRUNC) != 0 || context_.snapshot == nullptr) {
      context_.state.counters->dropped.add();
      continue;
    }
    uint8_t* reply = reply_buffers_.get() + i * kReplySize;
    const ClientInfo client{reinterpret_cast<const sockaddr*>(&peers_[i]), Transport::udp};
    size_t length = answer_query(
        *context_.snapshot, {query_buffers_.get() + i * kQuerySize, received_[i].msg_len}, client,
        {reply, kReplySize}, context_.state);
    if (length == kAwaitsSignature) {
      park(socket, i);
      continue;
    }
    if (length == 0 || !admit(client.address, reply, length, now_seconds)) continue;

    msghdr& out = replies_[replies].msg_hdr;
    replies_iov_[replies] = {reply, length};
    out.msg_name = &peers_[i];
    out.msg_namelen = query.msg_namelen;
    out.msg_control = nullptr;
    out.msg_controllen = 0;
    if (socket.wildcard) {
      // Rewritten in place: the query's control block is not needed any more.
      const socklen_t size = reply_control(query, controls_[i].bytes, kControlSize);
      if (size != 0) {
        out.msg_control = controls_[i].bytes;
        out.msg_controllen = size;
      }
    }
    ++replies;
  }
  return replies;
}

bool UdpResponder::admit(const sockaddr* client, uint8_t* reply, size_t& length,
                         uint32_t now_seconds) noexcept {
  RateLimiter* const limiter = context_.rate_limiter;
  if (limiter == nullptr) return true;
  switch (limiter->admit(client, now_seconds)) {
    case RateLimiter::Verdict::pass:
      return true;
    case RateLimiter::Verdict::drop:
      context_.state.counters->rrl_dropped.add();
      return false;
    case RateLimiter::Verdict::slip:
      // Too short to be anything but a TCP hint: a real client retries
      // over TCP, a reflection victim receives a few dozen bytes.
      length = truncate_to_question(reply, length);
      context_.state.counters->rrl_slipped.add();
      return length != 0;
  }
  return true;
}

void UdpResponder::park(const Socket& socket, size_t i) noexcept {
  Parked::Slot* slot = parked_.park(context_, query_buffers_.get() + i * kQuerySize, received_[i].msg_len,
                                    uv_now(context_.loop), [](Parked::Slot&) {});
  if (slot == nullptr) return;
  Peer& peer = slot->destination;
  peer.fd = socket.fd.get();
  peer.address = peers_[i];
  peer.address_length = received_[i].msg_hdr.msg_namelen;
  peer.control_length =
      socket.wildcard ? reply_control(received_[i].msg_hdr, peer.control.bytes, kControlSize) : 0;
}

void UdpResponder::answer_parked(const dnssec::SignedDenial& result) noexcept {
  if (context_.state.denial != nullptr) {
    context_.state.denial->now = static_cast<uint32_t>(std::time(nullptr));
  }
  uint8_t* reply = reply_buffers_.get();  // no batch is being answered now
  parked_.take_signed(result, [&](Parked::Slot& slot) { answer_late(slot, result, reply); });
}

void UdpResponder::answer_late(Parked::Slot& slot, const dnssec::SignedDenial& result,
                               uint8_t* reply) noexcept {
  counters::WorkerCounters& counters = *context_.state.counters;
  Peer& peer = slot.destination;
  size_t length = 0;
  if (result.signed_ok && context_.snapshot != nullptr) {
    const ClientInfo client{reinterpret_cast<const sockaddr*>(&peer.address), Transport::udp};
    length = answer_query(*context_.snapshot, {slot.query, slot.size}, client, {reply, kReplySize},
                          context_.state);
  }
  // An answer that needs a second NSEC (a wildcard CNAME to a name that
  // does not exist) waits again in the same slot, within the first wait's
  // time limit; still unsigned for the same NSEC (the key changed
  // meanwhile, or signing failed): no second wait.
  if (length == kAwaitsSignature && parked_.repark(context_, slot, result) != Parked::Repark::same_nsec) {
    return;
  }
  if (length == kAwaitsSignature || length == 0) {
    counters.denial_dropped.add();
    return;
  }
  const auto now_seconds = static_cast<uint32_t>(uv_now(context_.loop) / 1000);
  if (!admit(reinterpret_cast<const sockaddr*>(&peer.address), reply, length, now_seconds)) return;
  iovec iov{reply, length};
  msghdr message{};
  message.msg_name = &peer.address;
  message.msg_namelen = peer.address_length;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (peer.control_length != 0) {
    message.msg_control = peer.control.bytes;
    message.msg_controllen = peer.control_length;
  }
  if (::sendmsg(peer.fd, &message, MSG_DONTWAIT) < 0) {
    counters.dropped.add();
    return;
  }
  counters.denial_answered_late.add();
}

void UdpResponder::send_batch(int fd, size_t count) noexcept {
  size_t next = 0;
  while (next < count) {
    const int sent = ::sendmmsg(fd, &replies_[next], static_cast<unsigned>(count - next), MSG_DONTWAIT);
    if (sent > 0) {
      next += static_cast<size_t>(sent);
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      // The send buffer is full: waiting would stall every other client.
      context_.state.counters->dropped.add(count - next);
      return;
    } else {
      // This one datagram failed (unreachable peer, bad address); the rest may not.
      context_.state.counters->dropped.add();
      ++next;
    }
  }
}

}  // namespace rotor::net
