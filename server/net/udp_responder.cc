#include "server/net/udp_responder.h"

#include <fcntl.h>
#include <pthread.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <utility>

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

UdpResponder::UdpResponder(SnapshotPublisher& publisher, UniqueFd fd, bool wildcard,
                           RateLimiter* rate_limiter)
    : publisher_(publisher),
      fd_(std::move(fd)),
      wildcard_(wildcard),
      context_{.rate_limiter = rate_limiter},
      query_buffers_(new uint8_t[kBatch * kQuerySize]),
      reply_buffers_(new uint8_t[kBatch * kReplySize]) {
  // Blocking: recvmmsg(MSG_WAITFORONE) sleeps in the kernel for the first
  // datagram and takes the rest without waiting; every send says MSG_DONTWAIT.
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags & ~O_NONBLOCK);
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&local), &length);
  const bool v6 = local.ss_family == AF_INET6;
  // Replies leave with Don't Fragment set and never fragmented (RFC 9715):
  // PROBE sets DF but ignores the path MTU a (spoofable) ICMP message may
  // have lowered, and every reply fits any link (edns_udp_size 1232 + 48 <=
  // 1280). A DF datagram also needs no IP ID, a hash per reply otherwise.
  const int probe = v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
  setsockopt(fd_.get(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
             &probe, sizeof probe);
  if (wildcard_) {
    const int on = 1;
    if (v6) {
      setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    } else {
      setsockopt(fd_.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    }
  }
  for (size_t i = 0; i < kBatch; ++i) {
    received_iov_[i] = {query_buffers_.get() + i * kQuerySize, kQuerySize};
    received_[i].msg_hdr.msg_iov = &received_iov_[i];
    received_[i].msg_hdr.msg_iovlen = 1;
    received_[i].msg_hdr.msg_name = &peers_[i];
    received_[i].msg_hdr.msg_control = wildcard_ ? controls_[i].bytes : nullptr;
    replies_[i].msg_hdr.msg_iov = &replies_iov_[i];
    replies_[i].msg_hdr.msg_iovlen = 1;
  }
}

UdpResponder::~UdpResponder() {
  unsubscribe();
  if (thread_.joinable()) {
    request_stop();
    thread_.join();
  }
}

void UdpResponder::attach_denial_signer(dnssec::DenialSigner& signer) {
  // No wake-up: a blocked recvmmsg cannot be woken cheaply, so the thread
  // polls the ring per batch and on a short receive timeout while it waits.
  context_.denial_channel = &signer.attach([] {});
}

void UdpResponder::subscribe() {
  // Subscribe first, then read: a publish in between bumps `published_`
  // after current() has changed, so the thread takes it again at worst.
  context_.publisher = &publisher_;
  context_.published = &published_;
  subscription_ = publisher_.subscribe([this] { published_.fetch_add(1, std::memory_order_release); });
  context_.seen = published_.load(std::memory_order_acquire);
  adopt_snapshot(context_, publisher_.current());
}

void UdpResponder::unsubscribe() {
  if (subscription_ == 0) return;
  publisher_.unsubscribe(subscription_);
  subscription_ = 0;
}

void UdpResponder::start(const std::string& name) {
  thread_ = std::thread([this, name] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    run();
  });
}

void UdpResponder::request_stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  // On Linux, shutdown() of an unconnected UDP socket fails with ENOTCONN
  // but still marks it shut for reading and wakes a blocked recvmmsg, which
  // then returns at once; should it not, kIdleTimeout bounds the wait. The
  // descriptor stays open until this object is destroyed, after the join.
  ::shutdown(fd_.get(), SHUT_RD);
}

void UdpResponder::join() {
  if (thread_.joinable()) thread_.join();
}

void UdpResponder::run() noexcept {
  while (!stop_.load(std::memory_order_relaxed)) serve_once();
  // The snapshot is let go here, on this thread, as a swap would.
  context_.snapshot = nullptr;
  context_.snapshot_owner.reset();
}

void UdpResponder::serve_once() noexcept {
  set_receive_timeout(parked_.waiting() > 0 ? kParkedTimeout : kIdleTimeout);
  // The kernel writes back the lengths and flags of the headers it filled
  // (the constructor set the rest once): only those are reset, not all 32.
  for (size_t i = 0; i < headers_written_; ++i) {
    msghdr& header = received_[i].msg_hdr;
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_controllen = wildcard_ ? kControlSize : 0;
    header.msg_flags = 0;
  }
  // <= 0: the receive timeout (EAGAIN), a signal (EINTR), or a shut socket.
  const int received = ::recvmmsg(fd_.get(), received_.data(), kBatch, MSG_WAITFORONE, nullptr);
  // The datagrams received, and the one the kernel tried next (a failed
  // receive writes nothing back, but one header more costs little); all
  // after a failure.
  headers_written_ = received > 0 ? std::min(kBatch, static_cast<size_t>(received) + 1) : kBatch;
  if (stop_.load(std::memory_order_relaxed)) return;  // woken by request_stop()
  clock_read_ = false;
  // Between batches, never inside one: a batch is answered from one snapshot.
  follow_publisher(context_);
  take_signatures();
  if (parked_.waiting() > 0) parked_.expire(context_, now_ms());
  if (received > 0) send_batch(answer_batch(static_cast<size_t>(received)));
}

uint64_t UdpResponder::now_ms() noexcept {
  if (!clock_read_) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    now_ms_ = static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
    clock_read_ = true;
  }
  return now_ms_;
}

void UdpResponder::set_receive_timeout(std::chrono::milliseconds timeout) noexcept {
  if (timeout == receive_timeout_) return;
  const timeval value{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
                      .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value) == 0) {
    receive_timeout_ = timeout;
  }
}

void UdpResponder::take_signatures() noexcept {
  if (context_.denial_channel == nullptr) return;
  dnssec::SignedDenial& result = signed_;
  while (context_.denial_channel->take(result)) {
    DenialState* denial = context_.state.denial.get();
    if (result.signed_ok) context_.state.counters->denial_signed.add();
    if (denial != nullptr) {
      if (denial->is_current(result.key.get())) denial->cache.insert(result);
      denial->now = static_cast<uint32_t>(std::time(nullptr));
    }
    uint8_t* reply = reply_buffers_.get();  // no batch is being answered now
    parked_.take_signed(result, [&](Parked::Slot& slot) { answer_late(slot, result, reply); });
    result.key.reset();
  }
}

size_t UdpResponder::answer_batch(size_t received) noexcept {
  size_t replies = 0;
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
      park(i);
      continue;
    }
    if (length == 0) continue;
    // Tested here first: admit() reads the clock, so it is not inlined.
    if (context_.rate_limiter != nullptr && !admit(client.address, reply, length)) continue;

    msghdr& out = replies_[replies].msg_hdr;
    replies_iov_[replies] = {reply, length};
    out.msg_name = &peers_[i];
    out.msg_namelen = query.msg_namelen;
    out.msg_control = nullptr;
    out.msg_controllen = 0;
    if (wildcard_) {
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

bool UdpResponder::admit(const sockaddr* client, uint8_t* reply, size_t& length) noexcept {
  RateLimiter* const limiter = context_.rate_limiter;
  if (limiter == nullptr) return true;
  // Seconds of the coarse monotonic clock are all the limiter needs.
  switch (limiter->admit(client, static_cast<uint32_t>(now_ms() / 1000))) {
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

void UdpResponder::park(size_t i) noexcept {
  Parked::Slot* slot = parked_.park(context_, query_buffers_.get() + i * kQuerySize, received_[i].msg_len,
                                    now_ms(), [](Parked::Slot&) {});
  if (slot == nullptr) return;
  Peer& peer = slot->destination;
  peer.address = peers_[i];
  peer.address_length = received_[i].msg_hdr.msg_namelen;
  peer.control_length = wildcard_ ? reply_control(received_[i].msg_hdr, peer.control.bytes, kControlSize) : 0;
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
  if (!admit(reinterpret_cast<const sockaddr*>(&peer.address), reply, length)) return;
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
  if (::sendmsg(fd_.get(), &message, MSG_DONTWAIT) < 0) {
    counters.dropped.add();
    return;
  }
  counters.denial_answered_late.add();
}

void UdpResponder::send_batch(size_t count) noexcept {
  size_t next = 0;
  while (next < count) {
    const int sent =
        ::sendmmsg(fd_.get(), &replies_[next], static_cast<unsigned>(count - next), MSG_DONTWAIT);
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
