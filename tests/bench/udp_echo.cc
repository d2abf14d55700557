// The benchmark's floor: a UDP server that does no DNS work. By default it
// reads datagrams the way rotor's UDP threads do (server/net/udp_responder.cc:
// a blocking recvmmsg with MSG_WAITFORONE, batches of 32, no epoll) and sends
// each one back with sendmmsg, with only the QR bit set so that dnsperf counts
// it as an answer; its socket has rotor's options (Don't Fragment). What rotor
// costs above this is what answering costs.
//
// The other receive paths real servers use (issue 18), each the same echo,
// so that bench.sh's `io` workload can tell what each would save or cost rotor:
//   blocking   rotor's: a blocking recvmmsg with MSG_WAITFORONE, sendmmsg (the default)
//   epoll      rotor's before: epoll_wait, recvmmsg x <= 8 (MSG_DONTWAIT), sendmmsg
//   drain      as epoll, but recvmmsg until EAGAIN before waiting again
//   busy-poll  epoll with SO_BUSY_POLL 50 us on the socket
//   uring      io_uring: one multishot recvmsg into a provided-buffer ring,
//              replies as sendmsg entries, one io_uring_enter per round
//              (submits the replies and waits for more datagrams)
//
// Usage: rotor_udp_echo ADDR PORT [MODE]   (port 0: the kernel picks one)
// Prints "listening ADDR:PORT" once bound; SIGTERM or SIGINT stops it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
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

// Receives up to kBatch datagrams and echoes them; returns how many (0: none
// waited). `flags`: MSG_DONTWAIT, or MSG_WAITFORONE on a blocking socket.
int echo_batch(int fd, Batch& batch, int flags = MSG_DONTWAIT) {
  for (size_t i = 0; i < kBatch; ++i) {
    batch.iov[i] = {batch.buffers.data() + i * kDatagramSize, kDatagramSize};
    msghdr& header = batch.messages[i].msg_hdr;
    header = {};
    header.msg_iov = &batch.iov[i];
    header.msg_iovlen = 1;
    header.msg_name = &batch.peers[i];
    header.msg_namelen = sizeof(sockaddr_storage);
  }
  const int received = ::recvmmsg(fd, batch.messages.data(), kBatch, flags, nullptr);
  if (received <= 0) return 0;
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
  return received;
}

// io_uring: one multishot recvmsg feeds datagrams into a ring of provided
// buffers; each is echoed in place by a sendmsg entry and handed back to the
// ring when that send completes. Entries queued in one round go to the
// kernel with the next wait: one io_uring_enter per round.
class UringEcho {
 public:
  static constexpr unsigned kBuffers = 256;  // a power of two
  static constexpr unsigned kEntries = 512;
  static constexpr uint64_t kReceive = ~uint64_t{0};

  explicit UringEcho(int fd) : fd_(fd), buffers_(kBuffers * kDatagramSize), sends_(kBuffers) {}
  ~UringEcho() {
    if (ready_) ::io_uring_queue_exit(&ring_);
  }
  UringEcho(const UringEcho&) = delete;
  UringEcho& operator=(const UringEcho&) = delete;

  // 0 or a negative errno naming what failed.
  int start() {
    if (int rc = ::io_uring_queue_init(kEntries, &ring_, 0); rc < 0) return rc;
    ready_ = true;
    void* memory = nullptr;
    if (::posix_memalign(&memory, 4096, kBuffers * sizeof(io_uring_buf)) != 0) return -ENOMEM;
    buffer_ring_.reset(static_cast<io_uring_buf_ring*>(memory));
    ::io_uring_buf_ring_init(buffer_ring_.get());
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<uint64_t>(buffer_ring_.get());
    registration.ring_entries = kBuffers;
    registration.bgid = 0;
    if (int rc = ::io_uring_register_buf_ring(&ring_, &registration, 0); rc < 0) return rc;
    for (unsigned id = 0; id < kBuffers; ++id) give_back(id);
    receive_template_.msg_namelen = sizeof(sockaddr_storage);
    return arm_receive() ? 0 : -EBUSY;
  }

  void run() {
    while (stopping == 0) {
      const int rc = ::io_uring_submit_and_wait(&ring_, 1);
      if (rc < 0 && rc != -EINTR) return;
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_cqe* cqe = nullptr;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        if (cqe->user_data == kReceive) {
          received(*cqe);
        } else {
          give_back(static_cast<unsigned>(cqe->user_data));  // its reply went out (or failed)
        }
      }
      ::io_uring_cq_advance(&ring_, seen);
    }
  }

 private:
  struct Send {
    msghdr message{};
    iovec iov{};
  };

  bool arm_receive() {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
    ::io_uring_prep_recvmsg_multishot(sqe, fd_, &receive_template_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    ::io_uring_sqe_set_data64(sqe, kReceive);
    return true;
  }

  void give_back(unsigned id) {
    ::io_uring_buf_ring_add(buffer_ring_.get(), buffers_.data() + size_t{id} * kDatagramSize, kDatagramSize,
                            static_cast<unsigned short>(id), ::io_uring_buf_ring_mask(kBuffers), 0);
    ::io_uring_buf_ring_advance(buffer_ring_.get(), 1);
  }

  void received(const io_uring_cqe& cqe) {
    // The multishot receive stops on an error or when the ring ran out of
    // buffers (-ENOBUFS: every buffer is waiting for its send); arm it again.
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) arm_receive();
    if (cqe.res < 0 || (cqe.flags & IORING_CQE_F_BUFFER) == 0) return;
    const auto id = static_cast<unsigned>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    uint8_t* buffer = buffers_.data() + size_t{id} * kDatagramSize;
    io_uring_recvmsg_out* out = ::io_uring_recvmsg_validate(buffer, cqe.res, &receive_template_);
    if (out == nullptr || (out->flags & MSG_TRUNC) != 0) {
      give_back(id);
      return;
    }
    auto* payload = static_cast<uint8_t*>(::io_uring_recvmsg_payload(out, &receive_template_));
    const unsigned length = ::io_uring_recvmsg_payload_length(out, cqe.res, &receive_template_);
    if (length > 2) payload[2] |= 0x80;
    Send& send = sends_[id];
    send.iov = {payload, length};
    send.message = {};
    send.message.msg_name = ::io_uring_recvmsg_name(out);
    send.message.msg_namelen = out->namelen;
    send.message.msg_iov = &send.iov;
    send.message.msg_iovlen = 1;
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // the submission queue is full: drop, as a full send buffer does
      give_back(id);
      return;
    }
    ::io_uring_prep_sendmsg(sqe, fd_, &send.message, 0);
    ::io_uring_sqe_set_data64(sqe, id);
  }

  struct FreeDeleter {
    void operator()(io_uring_buf_ring* ring) const { std::free(ring); }
  };

  int fd_;
  io_uring ring_{};
  bool ready_ = false;
  std::vector<uint8_t> buffers_;
  std::vector<Send> sends_;
  std::unique_ptr<io_uring_buf_ring, FreeDeleter> buffer_ring_;
  msghdr receive_template_{};
};

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 4 ? argv[3] : "blocking";
  if ((argc != 3 && argc != 4) ||
      (mode != "epoll" && mode != "drain" && mode != "blocking" && mode != "busy-poll" && mode != "uring")) {
    std::fprintf(stderr, "usage: %s ADDR PORT [blocking|epoll|drain|busy-poll|uring]\n", argv[0]);
    return 2;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
    std::fprintf(stderr, "udp_echo: not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  // Blocking mode waits in recvmmsg itself; io_uring waits for the socket.
  const int nonblocking = mode == "blocking" || mode == "uring" ? 0 : SOCK_NONBLOCK;
  const Fd socket_fd(::socket(AF_INET, SOCK_DGRAM | nonblocking | SOCK_CLOEXEC, 0));
  if (socket_fd.get() < 0 ||
      ::bind(socket_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    std::perror("udp_echo: bind");
    return 1;
  }
  socklen_t length = sizeof address;
  ::getsockname(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  // As rotor's UDP sockets (udp_responder.cc): Don't Fragment, path MTU
  // ignored; a DF datagram also needs no IP ID, so the floor pays none either.
  const int probe = IP_PMTUDISC_PROBE;
  if (::setsockopt(socket_fd.get(), IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe) != 0) {
    std::perror("udp_echo: IP_MTU_DISCOVER");
    return 1;
  }
  if (mode == "busy-poll") {
    const int microseconds = 50;
    if (::setsockopt(socket_fd.get(), SOL_SOCKET, SO_BUSY_POLL, &microseconds, sizeof microseconds) != 0) {
      std::perror("udp_echo: SO_BUSY_POLL");
      return 1;
    }
  }
  UringEcho uring(socket_fd.get());
  if (mode == "uring") {
    if (const int rc = uring.start(); rc < 0) {
      std::fprintf(stderr, "udp_echo: io_uring: %s\n", std::strerror(-rc));
      return 1;
    }
  }
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  std::printf("listening %s:%u\n", text, ntohs(address.sin_port));
  std::fflush(stdout);

  struct sigaction action{};
  action.sa_handler = on_signal;  // no SA_RESTART: epoll_wait and recvmmsg return EINTR
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  if (mode == "uring") {
    uring.run();
    return 0;
  }
  Batch batch;
  if (mode == "blocking") {
    while (stopping == 0) echo_batch(socket_fd.get(), batch, MSG_WAITFORONE);
    return 0;
  }

  const Fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event watch{};
  watch.events = EPOLLIN;
  if (epoll_fd.get() < 0 || ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, socket_fd.get(), &watch) != 0) {
    std::perror("udp_echo: epoll");
    return 1;
  }
  const bool drain = mode == "drain";
  while (stopping == 0) {
    epoll_event event{};
    const int ready = ::epoll_wait(epoll_fd.get(), &event, 1, -1);
    if (ready <= 0) continue;  // EINTR: the loop condition sees the signal
    if (drain) {
      while (echo_batch(socket_fd.get(), batch) > 0) {
      }
      continue;
    }
    // rotor's: a short batch means the socket is empty; at most 8 batches,
    // so that the loop's other handles get their turn.
    for (int round = 0; round < kBatchesPerWakeup; ++round) {
      if (echo_batch(socket_fd.get(), batch) < static_cast<int>(kBatch)) break;
    }
  }
  return 0;
}
