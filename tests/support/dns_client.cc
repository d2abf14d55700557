#include "tests/support/dns_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace rotor::test {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Polls `fd` for `events` until the deadline; false on timeout or error.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd entry{.fd = fd, .events = events, .revents = 0};
    const int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

// The socket address of `host` ("[::1]" may keep its brackets) and `port`.
sockaddr_storage socket_address(const std::string& host, uint16_t port, socklen_t& length) {
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  sockaddr_storage address{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (::inet_pton(AF_INET, bare.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("not an IP address: " + host);
  }
  return address;
}

void append_u16(Bytes& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

// The OPT record (RFC 6891) for `options`, options in code order.
Bytes opt_record(const QueryOptions& options) {
  Bytes rdata;
  if (options.nsid) append_u16(rdata, 3), append_u16(rdata, 0);
  if (const auto& subnet = options.client_subnet) {
    append_u16(rdata, 8);
    append_u16(rdata, static_cast<uint16_t>(4 + subnet->address.size()));
    append_u16(rdata, subnet->family);
    rdata.push_back(subnet->source_prefix);
    rdata.push_back(subnet->scope_prefix);
    for (uint8_t byte : subnet->address) rdata.push_back(byte);
  }
  Bytes opt{0};  // root owner
  append_u16(opt, LDNS_RR_TYPE_OPT);
  append_u16(opt, options.udp_size);
  opt.push_back(0);  // extended rcode
  opt.push_back(options.edns_version);
  append_u16(opt, options.dnssec_ok ? 0x8000 : 0);
  append_u16(opt, static_cast<uint16_t>(rdata.size()));
  for (uint8_t byte : rdata) opt.push_back(byte);
  return opt;
}

// The RRs of a section as ldns prints them, OPT left out.
std::vector<std::string> records_as_text(const ldns_pkt& packet, ldns_pkt_section section,
                                         bool canonical) {
  std::vector<std::string> texts;
  ldns_rr_list* list = ldns_pkt_get_section_clone(&packet, section);
  for (size_t index = 0; list != nullptr && index < ldns_rr_list_rr_count(list); ++index) {
    ldns_rr* rr = ldns_rr_list_rr(list, index);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT) continue;
    if (canonical) ldns_rr2canonical(rr);
    char* text = ldns_rr2str(rr);
    texts.emplace_back(text != nullptr ? text : "?");
    std::free(text);
  }
  ldns_rr_list_deep_free(list);
  return texts;
}

}  // namespace

QueryOptions resolver_options(uint16_t id) {
  QueryOptions options;
  options.id = id;
  options.recursion_desired = false;
  options.edns = true;
  return options;
}

Bytes make_query(const std::string& name, ldns_rr_type type, const QueryOptions& options) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name.c_str());
  if (owner == nullptr) throw std::runtime_error("bad query name: " + name);
  LdnsPacket packet(ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN,
                                       options.recursion_desired ? LDNS_RD : 0));
  ldns_pkt_set_id(packet.get(), options.id);
  ldns_pkt_set_qr(packet.get(), options.qr);
  uint8_t* data = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&data, packet.get(), &size) != LDNS_STATUS_OK) {
    throw std::runtime_error("cannot encode query for " + name);
  }
  Bytes wire(data, data + size);
  std::free(data);
  if (!options.edns) return wire;
  for (uint8_t byte : opt_record(options)) wire.push_back(byte);
  wire[11] = 1;  // ARCOUNT: the OPT record is the only additional one
  return wire;
}

Bytes make_query(const std::string& name, const std::string& type, const QueryOptions& options) {
  const ldns_rr_type parsed = ldns_get_rr_type_by_name(type.c_str());
  if (parsed == 0) throw std::runtime_error("unknown type: " + type);
  return make_query(name, parsed, options);
}

LdnsPacket parse_reply(const Bytes& wire) {
  ldns_pkt* packet = nullptr;
  if (ldns_wire2pkt(&packet, wire.data(), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return LdnsPacket(packet);
}

Reply to_reply(Bytes wire) {
  LdnsPacket packet = parse_reply(wire);
  return Reply{std::move(wire), std::move(packet)};
}

uint16_t reply_id(const Bytes& wire) { return static_cast<uint16_t>(wire.at(0) << 8 | wire.at(1)); }

bool is_reply(const Bytes& wire) { return wire.size() >= 12 && (wire[2] & 0x80) != 0; }

std::vector<std::string> section_text(const ldns_pkt& packet, ldns_pkt_section section) {
  std::vector<std::string> lines;
  for (const std::string& text : records_as_text(packet, section, false)) {
    std::string line;
    bool space = false;
    for (char c : text) {
      if (c == '\t' || c == ' ' || c == '\n') {
        space = true;
        continue;
      }
      if (space && !line.empty()) line += ' ';
      space = false;
      line += c;
    }
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> canonical_section_text(const ldns_pkt& packet, ldns_pkt_section section) {
  std::vector<std::string> lines = records_as_text(packet, section, true);
  for (std::string& line : lines) {
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

Endpoint endpoint_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  Endpoint endpoint;
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    endpoint.port = ntohs(v6.sin6_port);
  } else {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    endpoint.port = ntohs(v4.sin_port);
  }
  endpoint.host = text;
  return endpoint;
}

UdpClient::UdpClient(const Endpoint& server, const std::string& local_address) {
  socklen_t length = 0;
  const sockaddr_storage remote = socket_address(server.host, server.port, length);
  fd_ = ::socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (!local_address.empty()) {
    socklen_t local_length = 0;
    const sockaddr_storage local = socket_address(local_address, 0, local_length);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), local_length) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("cannot bind to " + local_address + ": " + reason);
    }
  }
  // Connected: only the server's datagrams arrive, and ICMP "port
  // unreachable" ends an exchange at once instead of at its timeout.
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&remote), length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("cannot connect a UDP socket to " + server.host + ": " + reason);
  }
}

UdpClient::~UdpClient() {
  if (fd_ >= 0) ::close(fd_);
}

UdpClient::UdpClient(UdpClient&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

bool UdpClient::send(const Bytes& datagram) {
  return ::send(fd_, datagram.data(), datagram.size(), 0) == static_cast<ssize_t>(datagram.size());
}

std::optional<Reply> UdpClient::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (wait_fd(fd_, POLLIN, deadline)) {
    Bytes buffer(65535);
    const ssize_t got = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::nullopt;  // e.g. ECONNREFUSED: nobody listens
    buffer.resize(static_cast<size_t>(got));
    return to_reply(std::move(buffer));
  }
  return std::nullopt;
}

std::optional<Reply> UdpClient::exchange(const Bytes& query, std::chrono::milliseconds timeout) {
  if (!send(query)) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::optional<Reply> reply = receive(std::chrono::milliseconds(remaining_ms(deadline)));
    if (!reply) return std::nullopt;
    // A late answer to an earlier query carries another ID.
    if (reply->wire.size() >= 2 && query.size() >= 2 && reply->wire[0] == query[0] &&
        reply->wire[1] == query[1]) {
      return reply;
    }
  }
}

std::vector<Reply> UdpClient::collect(std::chrono::milliseconds quiet, std::chrono::milliseconds limit) {
  std::vector<Reply> replies;
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    std::optional<Reply> reply = receive(std::min(quiet, std::chrono::milliseconds(remaining_ms(deadline))));
    if (!reply) break;
    replies.push_back(std::move(*reply));
  }
  return replies;
}

TcpClient::TcpClient(const Endpoint& server) {
  socklen_t length = 0;
  const sockaddr_storage remote = socket_address(server.host, server.port, length);
  fd_ = ::socket(remote.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&remote), length) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) return;
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // each send() goes out at once
}

TcpClient::~TcpClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpClient::send(const Bytes& bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t wrote =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (wrote >= 0) {
      sent += static_cast<size_t>(wrote);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd_, POLLOUT, deadline)) return false;
    } else if (errno != EINTR) {
      return false;
    }
  }
  return true;
}

void TcpClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool TcpClient::read_exact(uint8_t* out, size_t size, Clock::time_point deadline) {
  size_t done = 0;
  while (done < size) {
    if (!wait_fd(fd_, POLLIN, deadline)) return false;
    const ssize_t got = ::recv(fd_, out + done, size - done, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

std::optional<Reply> TcpClient::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  uint8_t prefix[2];
  if (!read_exact(prefix, 2, deadline)) return std::nullopt;
  Bytes message(static_cast<size_t>(prefix[0] << 8 | prefix[1]));
  if (!read_exact(message.data(), message.size(), deadline)) return std::nullopt;
  return to_reply(std::move(message));
}

bool TcpClient::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (wait_fd(fd_, POLLIN, deadline)) {
    uint8_t buffer[4096];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;  // EOF or reset
  }
  return false;
}

Bytes tcp_frame(const Bytes& message) {
  // Sized up front: GCC 12 at -O3 misreads insert() after a 2-byte initializer
  // list as an out-of-bounds copy.
  Bytes framed(message.size() + 2);
  framed[0] = static_cast<uint8_t>(message.size() >> 8);
  framed[1] = static_cast<uint8_t>(message.size());
  std::copy(message.begin(), message.end(), framed.begin() + 2);
  return framed;
}

std::optional<Reply> exchange_udp(const Endpoint& server, const Bytes& query,
                                  std::chrono::milliseconds timeout) {
  UdpClient client(server);
  return client.exchange(query, timeout);
}

std::vector<Reply> exchange_tcp(const Endpoint& server, const std::vector<Bytes>& queries,
                                std::chrono::milliseconds timeout) {
  std::vector<Reply> replies;
  TcpClient client(server);
  if (!client.connected()) return replies;
  Bytes pipeline;
  for (const Bytes& query : queries) {
    for (uint8_t byte : tcp_frame(query)) pipeline.push_back(byte);
  }
  const auto deadline = Clock::now() + timeout;
  if (!client.send(pipeline, timeout)) return replies;
  while (replies.size() < queries.size()) {
    std::optional<Reply> reply = client.receive(std::chrono::milliseconds(remaining_ms(deadline)));
    if (!reply) break;
    replies.push_back(std::move(*reply));
  }
  return replies;
}

std::optional<Reply> exchange_tcp(const Endpoint& server, const Bytes& query,
                                  std::chrono::milliseconds timeout) {
  std::vector<Reply> replies = exchange_tcp(server, std::vector<Bytes>{query}, timeout);
  if (replies.empty()) return std::nullopt;
  return std::move(replies.front());
}

std::set<std::string> answered_addresses(const Endpoint& server, const std::string& name,
                                         const std::string& type) {
  std::set<std::string> addresses;
  const std::optional<Reply> reply = exchange_udp(server, make_query(name, type, resolver_options()));
  if (!reply || !reply->packet) return addresses;
  for (const std::string& record : canonical_section_text(*reply->packet, LDNS_SECTION_ANSWER)) {
    addresses.insert(record.substr(record.find_last_of(" \t") + 1));
  }
  return addresses;
}

}  // namespace rotor::test
