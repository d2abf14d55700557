// The floor of churn_cpu.sh: an HTTP server that does no registry work. It
// runs its connections the way rotor's API does (api/guarded_server.cc): a
// thread per connection, TCP_NODELAY, a blocking recv bounded by SO_RCVTIMEO
// that is also the wait for the next request, and one send per reply. Every
// GET is answered with one instance (what churn.py's setup reads), every
// other request with a PATCH reply of rotor's size. What rotor costs per
// change above this is what the change itself costs; this is what the kernel
// takes for one request and reply over loopback TCP, the wake-ups included.
//
// Usage: rotor_api_floor [--max-requests N] [anything else, ignored]
// (churn_cpu.sh starts it as it starts `rotor serve`). Binds 127.0.0.1 on a
// port the kernel picks and prints "api 127.0.0.1:PORT". --max-requests:
// close a connection after N requests, as rotor's keep-alive limit does
// (default 0: never).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace {

constexpr std::string_view kInstances =
    R"([{"id":1,"address":"192.0.2.209","state":"draining","weight":100,"health":"up"}])";
constexpr std::string_view kPatched =
    R"({"id":1,"array":"web.bench.test.","address":"192.0.2.209","weight":100,"region":null,)"
    R"("state":"draining","check":null,"health":"up","health_reason":"","health_changed":null})";

// Reads one request (head and Content-Length body) into `buffer` after what
// it already holds; false when the peer closed or went silent.
bool read_request(int fd, std::string& buffer, size_t& length) {
  char chunk[4096];
  size_t head_end = std::string::npos;
  for (;;) {
    if (head_end == std::string::npos) head_end = buffer.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t body = 0;
      const size_t field = buffer.find("Content-Length:");
      if (field != std::string::npos && field < head_end) body = std::strtoul(&buffer[field + 15], nullptr, 10);
      length = head_end + 4 + body;
      if (buffer.size() >= length) return true;
    }
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(got));
  }
}

void serve(int fd, long max_requests) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  const timeval idle{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
  std::string buffer;
  std::string reply;
  for (long served = 0; max_requests == 0 || served < max_requests; ++served) {
    size_t length = 0;
    if (!read_request(fd, buffer, length)) break;
    const std::string_view body = buffer.starts_with("GET ") ? kInstances : kPatched;
    const bool last = max_requests != 0 && served + 1 == max_requests;
    reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
    reply += std::to_string(body.size());
    reply += last ? "\r\nConnection: close\r\n\r\n" : "\r\nKeep-Alive: timeout=5, max=100\r\n\r\n";
    reply += body;
    if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
    buffer.erase(0, length);
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  long max_requests = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--max-requests") == 0) max_requests = std::strtol(argv[i + 1], nullptr, 10);
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 64) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    std::perror("rotor_api_floor");
    return 1;
  }
  std::printf("api 127.0.0.1:%d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  for (;;) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    std::thread(serve, fd, max_requests).detach();
  }
}
