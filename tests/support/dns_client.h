#pragma once
// The tests' DNS client, shared by the unit and integration tests: queries
// built and replies read with ldns (a wire implementation rotor shares no code
// with, so the tests cannot share rotor's bugs), sent over UDP or TCP to a
// server on loopback with every wait bounded. Hostile packets are plain bytes:
// every send takes any bytes, and make_query's bytes may be edited.
//
// Thread-safety: one client object per thread, except that a TcpClient may
// send on one thread while another receives. The free functions are safe.
// Errors: a bad name or type in make_query, and a socket that cannot be made
// or bound, throw std::runtime_error; a server that is not there, a timeout
// or a close reads as nullopt, false or fewer replies, never as an exception.

// stdbool.h first: it keeps ldns/common.h from #defining true and false,
// which breaks <optional>.
#include <stdbool.h>
#include <ldns/ldns.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rotor::test {

using Bytes = std::vector<uint8_t>;

struct LdnsPacketFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using LdnsPacket = std::unique_ptr<ldns_pkt, LdnsPacketFree>;

// An EDNS Client Subnet option (RFC 7871); `address` holds only the bytes the
// source prefix needs.
struct ClientSubnet {
  uint16_t family = 1;  // 1: IPv4, 2: IPv6
  uint8_t source_prefix = 24;
  uint8_t scope_prefix = 0;
  Bytes address;
};

// The defaults are a stub's plain query: RD set, no OPT record.
struct QueryOptions {
  uint16_t id = 0x4242;
  bool recursion_desired = true;
  bool qr = false;  // a response-flagged packet, which a server must ignore
  bool edns = false;  // an OPT record; the fields below only matter with it
  uint16_t udp_size = 1232;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;
  bool nsid = false;  // an empty NSID option (RFC 5001)
  std::optional<ClientSubnet> client_subnet;
};

// What a resolver sends an authoritative server: EDNS with a 1232-byte
// payload, RD clear. The integration tests' usual query.
QueryOptions resolver_options(uint16_t id = 0x1234);

// Query bytes for one question of class IN. The name keeps its case. The OPT
// record is written by hand, so every bit of it is the test's choice.
Bytes make_query(const std::string& name, ldns_rr_type type, const QueryOptions& options = {});
Bytes make_query(const std::string& name, const std::string& type, const QueryOptions& options = {});

// Null when the bytes are not a DNS message ldns accepts.
LdnsPacket parse_reply(const Bytes& wire);

struct Reply {
  Bytes wire;
  LdnsPacket packet;  // null when the bytes do not parse
};
Reply to_reply(Bytes wire);

uint16_t reply_id(const Bytes& wire);  // throws std::out_of_range under two bytes
bool is_reply(const Bytes& wire);      // a whole header with QR set

// The records of one section, OPT left out, in the reply's order, as
// "owner ttl class type rdata" single-spaced and with the names' case as sent.
std::vector<std::string> section_text(const ldns_pkt& packet, ldns_pkt_section section);
// The same records in canonical form (owner and rdata names lower-cased),
// tab-separated as ldns prints them, and sorted: for comparing servers.
std::vector<std::string> canonical_section_text(const ldns_pkt& packet, ldns_pkt_section section);

// A server on loopback: "127.0.0.1", "::1" or "[::1]" and a port.
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
};
Endpoint endpoint_of(const sockaddr_storage& address);

// A UDP socket connected to one server (and, given `local_address`, bound to
// it first: a chosen source such as 127.0.1.1).
class UdpClient {
 public:
  explicit UdpClient(const Endpoint& server, const std::string& local_address = "");
  explicit UdpClient(const sockaddr_storage& server) : UdpClient(endpoint_of(server)) {}
  ~UdpClient();
  UdpClient(UdpClient&& other) noexcept;
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;
  UdpClient& operator=(UdpClient&&) = delete;

  bool send(const Bytes& datagram);
  // The next datagram, whatever its ID; nullopt on timeout or error.
  std::optional<Reply> receive(std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // Sends and waits for the reply with the query's ID, skipping others.
  std::optional<Reply> exchange(const Bytes& query,
                                std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // Every datagram until none has come for `quiet`, for at most `limit`.
  std::vector<Reply> collect(std::chrono::milliseconds quiet, std::chrono::milliseconds limit);

 private:
  int fd_ = -1;
};

// One TCP connection driven by hand: raw writes (partial messages,
// pipelines), framed reads, half-closes and waiting for the server's close.
class TcpClient {
 public:
  explicit TcpClient(const Endpoint& server);  // connected() says if it worked
  explicit TcpClient(const sockaddr_storage& server) : TcpClient(endpoint_of(server)) {}
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Writes all of `bytes` as they are (frame messages with tcp_frame); false
  // when the connection fails or they are not all out within `timeout`.
  bool send(const Bytes& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void shutdown_write();
  // The next length-prefixed message; nullopt on timeout or close.
  std::optional<Reply> receive(std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // True when the server closes (or resets) the connection within `timeout`;
  // whatever it sends meanwhile is discarded.
  bool closed_within(std::chrono::milliseconds timeout);

 private:
  bool read_exact(uint8_t* out, size_t size, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
};

// The TCP framing of one message: a two-byte length, then the bytes.
Bytes tcp_frame(const Bytes& message);

// One UDP exchange on a fresh socket; nullopt when no reply with the query's
// ID arrives within `timeout`.
std::optional<Reply> exchange_udp(const Endpoint& server, const Bytes& query,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(2));
// Every query in ONE write on one new connection (a pipeline), then as many
// replies as come within `timeout`, in the order they come.
std::vector<Reply> exchange_tcp(const Endpoint& server, const std::vector<Bytes>& queries,
                                std::chrono::milliseconds timeout = std::chrono::seconds(2));
std::optional<Reply> exchange_tcp(const Endpoint& server, const Bytes& query,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(2));

// The addresses in the answer to one UDP query with resolver_options (A or
// AAAA); empty when no parsable reply came.
std::set<std::string> answered_addresses(const Endpoint& server, const std::string& name,
                                         const std::string& type = "A");

}  // namespace rotor::test
