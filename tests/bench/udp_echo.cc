// The benchmark's floor: a UDP server that does no DNS work. It reads
// datagrams the way rotor's workers do (epoll readiness, then recvmmsg
// batches of 32, at most 8 batches per wakeup, MSG_DONTWAIT) and sends each
// one back with sendmmsg, with only the QR bit set so that dnsperf counts it
// as an answer. What rotor costs above this is what answering costs.
//
// Usage: rotor_udp_echo ADDR PORT   (port 0: the kernel picks one)
// Prints "listening ADDR:PORT" once bound; SIGTERM or SIGINT stops it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kBatch = 32;
constexpr int kBatchesPerWakeup = 8;
constexpr size_t kDatagramSize = 4096;

volatile std::sig_atomic_t stopping = 0;

void on_signal(int) { stopping = 1; }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct Batch {
  std::vector<uint8_t> buffers = std::vector<uint8_t>(kBatch * kDatagramSize);
  std::array<mmsghdr, kBatch> messages{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_storage, kBatch> peers{};
};

// Receives up to kBatch datagrams and echoes them; false once the socket is drained.
bool echo_batch(int fd, Batch& batch) {
  for (size_t i = 0; i < kBatch; ++i) {
    batch.iov[i] = {batch.buffers.data() + i * kDatagramSize, kDatagramSize};
    msghdr& header = batch.messages[i].msg_hdr;
    header = {};
    header.msg_iov = &batch.iov[i];
    header.msg_iovlen = 1;
    header.msg_name = &batch.peers[i];
    header.msg_namelen = sizeof(sockaddr_storage);
  }
  const int received = ::recvmmsg(fd, batch.messages.data(), kBatch, MSG_DONTWAIT, nullptr);
  if (received <= 0) return false;
  for (int i = 0; i < received; ++i) {
    // The reply is the datagram itself: same length, QR set in the flags byte.
    batch.iov[i].iov_len = batch.messages[i].msg_len;
    if (batch.messages[i].msg_len > 2) batch.buffers[i * kDatagramSize + 2] |= 0x80;
  }
  int next = 0;
  while (next < received) {
    const int sent = ::sendmmsg(fd, &batch.messages[next], static_cast<unsigned>(received - next),
                                MSG_DONTWAIT);
    if (sent > 0) {
      next += sent;
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      break;  // a full send buffer drops the rest, as rotor does
    } else {
      ++next;
    }
  }
  return received == static_cast<int>(kBatch);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]);
    return 2;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
    std::fprintf(stderr, "udp_echo: not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  const Fd socket_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket_fd.get() < 0 ||
      ::bind(socket_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    std::perror("udp_echo: bind");
    return 1;
  }
  socklen_t length = sizeof address;
  ::getsockname(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  std::printf("listening %s:%u\n", text, ntohs(address.sin_port));
  std::fflush(stdout);

  struct sigaction action{};
  action.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns EINTR
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);

  const Fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event watch{};
  watch.events = EPOLLIN;
  if (epoll_fd.get() < 0 || ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, socket_fd.get(), &watch) != 0) {
    std::perror("udp_echo: epoll");
    return 1;
  }
  Batch batch;
  while (stopping == 0) {
    epoll_event event{};
    const int ready = ::epoll_wait(epoll_fd.get(), &event, 1, -1);
    if (ready <= 0) continue;  // EINTR: the loop condition sees the signal
    for (int round = 0; round < kBatchesPerWakeup; ++round) {
      if (!echo_batch(socket_fd.get(), batch)) break;
    }
  }
  return 0;
}
