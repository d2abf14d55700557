#pragma once
// The head of an HTTP/1.x request (request line and headers), parsed by rotor
// for the API's common requests into the httplib::Request its handlers take,
// with the fields httplib's own parser gives them: method, version, target,
// path (percent-decoded), the query's params, the headers in order.
//
// It takes a strict subset of HTTP/1.x and says why it leaves any other
// request to httplib's parser (GuardedServer then hands the untouched bytes to
// httplib's process_request): a head not all in what was read, a chunked or
// encoded body, Expect, Range, a form body, compression asked for, a body on
// a GET, a header value httplib would percent-decode or drop, anything unusual
// in the request line. That list is what keeps the two parsers' results
// equal; tests/unit/api/guarded_server_test.cc compares them on a table of
// requests.
// httplib read a line a byte at a time through a virtual read, matched the
// path against a std::regex and compared header names through tolower per
// character (tests/bench/README.md, "Eighth step").
// The headers httplib adds to every request it parses (REMOTE_ADDR,
// REMOTE_PORT, LOCAL_ADDR, LOCAL_PORT) are not added: no handler of rotor's
// reads them (the addresses are in the Request's remote_addr and local_addr
// fields, which GuardedServer fills), and they were four tree nodes, eight
// strings and every later lookup's deeper walk: about 5,000 instructions a
// request (tests/bench/README.md, "Tenth step").
// Pure: no I/O, no state; thread-safe.

#include <cstddef>
#include <string_view>

namespace httplib {
struct Request;
}  // namespace httplib

namespace rotor::api {

struct RequestHead {
  size_t head_bytes = 0;      // the request line and headers, the blank line included
  size_t content_length = 0;  // the body's bytes that follow the head
  // The first Connection header's value is exactly "close" / "Keep-Alive"
  // (httplib compares it so), found while the headers are read rather than
  // looked up in the headers' multimap afterwards.
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Parses the head at the start of `bytes` into `request` and `head`; nullptr
// when it is taken, else why the request is left to httplib (`request` is
// then partly filled and should be dropped). `max_body`: a body declared
// longer is left to httplib, which answers 413.
const char* read_request_head(std::string_view bytes, size_t max_body, httplib::Request& request,
                              RequestHead& head);

}  // namespace rotor::api
