#include "server/net/tcp_server.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <iterator>
#include <stdexcept>
#include <string>

#include "server/dns/wire.h"

namespace rotor::net {

namespace {
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kAcceptBacklog = 1024;

uv_handle_t* as_handle(auto* handle) { return reinterpret_cast<uv_handle_t*>(handle); }
uv_stream_t* as_stream(uv_tcp_t* handle) { return reinterpret_cast<uv_stream_t*>(handle); }
}  // namespace

TcpServer::TcpServer(WorkerContext& context, std::chrono::milliseconds idle_timeout,
                     size_t max_connections)
    : context_(context),
      idle_timeout_ms_(static_cast<uint64_t>(std::max<int64_t>(idle_timeout.count(), 1))),
      max_connections_(std::max<size_t>(max_connections, 1)),
      read_buffer_(new uint8_t[kReadBufferSize]),
      answer_buffer_(new uint8_t[2 + kReplyBufferSize]) {
  uv_timer_init(context_.loop, &idle_timer_);
  idle_timer_.data = this;
}

void TcpServer::add_listener(UniqueFd fd) {
  auto listener = std::make_unique<Listener>();
  listener->owner = this;
  uv_tcp_init(context_.loop, &listener->handle);
  listener->handle.data = listener.get();
  listeners_.push_back(std::move(listener));
  uv_tcp_t* handle = &listeners_.back()->handle;
  int rc = uv_tcp_open(handle, fd.get());
  if (rc == 0) {
    fd.release();  // the handle owns it now and closes it with uv_close
    rc = uv_listen(as_stream(handle), kAcceptBacklog, on_connection);
  }
  if (rc != 0) throw std::runtime_error(std::string("cannot accept TCP: ") + uv_strerror(rc));
}

void TcpServer::close() noexcept {
  if (closed_) return;
  closed_ = true;
  for (auto& listener : listeners_) uv_close(as_handle(&listener->handle), nullptr);
  while (!active_.empty()) close_connection(active_.front());
  uv_close(as_handle(&idle_timer_), nullptr);
}

void TcpServer::on_connection(uv_stream_t* listener, int status) {
  if (status < 0) return;
  static_cast<Listener*>(listener->data)->owner->accept(listener);
}

void TcpServer::accept(uv_stream_t* listener) noexcept {
  // At the cap the least recently active connection makes room: a client
  // that is still talking keeps its connection, a forgotten one does not.
  if (active_.size() >= max_connections_) close_connection(active_.front());

  active_.emplace_back();
  Connection& connection = active_.back();
  connection.self = std::prev(active_.end());
  connection.owner = this;
  connection.last_active = uv_now(context_.loop);
  uv_tcp_init(context_.loop, &connection.handle);
  connection.handle.data = &connection;
  connection.write.data = &connection;
  if (uv_accept(listener, as_stream(&connection.handle)) != 0) {
    close_connection(connection);
    return;
  }
  context_.state.counters->tcp_accepted.add();
  context_.state.counters->tcp_open.set(active_.size());
  uv_tcp_nodelay(&connection.handle, 1);
  int length = sizeof connection.peer;
  uv_tcp_getpeername(&connection.handle, reinterpret_cast<sockaddr*>(&connection.peer), &length);
  if (uv_read_start(as_stream(&connection.handle), on_alloc, on_read) != 0) {
    close_connection(connection);
    return;
  }
  if (!uv_is_active(as_handle(&idle_timer_))) arm_idle_timer();
}

void TcpServer::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  // One buffer per worker is enough: on_read consumes it before the next read.
  TcpServer* self = static_cast<Connection*>(handle->data)->owner;
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer_.get()), kReadBufferSize);
}

void TcpServer::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Connection& connection = *static_cast<Connection*>(stream->data);
  TcpServer& self = *connection.owner;
  if (nread == 0) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      // A client may half-close after its last query: it still gets the answers.
      self.finish(connection);
      self.flush(connection);
    } else {
      self.close_connection(connection);
    }
    return;
  }
  self.touch(connection);
  const auto* bytes = reinterpret_cast<const uint8_t*>(buf->base);
  // Bounded: outside a pause `unread` holds at most one partial message, and a
  // pause stops reading, so it never exceeds one message plus one read.
  connection.unread.insert(connection.unread.end(), bytes, bytes + nread);
  self.answer_pending(connection);
  self.flush(connection);
}

void TcpServer::answer_pending(Connection& connection) noexcept {
  std::vector<uint8_t>& unread = connection.unread;
  size_t offset = 0;
  follow_publisher(context_);  // a publish may not have woken the loop (worker.h)
  if (context_.state.denial != nullptr) {
    context_.state.denial->now = static_cast<uint32_t>(std::time(nullptr));
  }
  while (!connection.finishing && !connection.closing) {
    const size_t available = unread.size() - offset;
    if (available < 2) break;
    const size_t length = dns::read_u16(unread.data() + offset);
    if (length == 0) {
      finish(connection);
      break;
    }
    if (available < 2 + length) break;
    if (connection.queued.size() >= kMaxQueuedReplyBytes) {
      // Backpressure: a client that does not read its answers stops being read.
      uv_read_stop(as_stream(&connection.handle));
      connection.paused = true;
      break;
    }
    size_t reply_length = 0;
    if (context_.snapshot != nullptr) {
      const ClientInfo client{reinterpret_cast<const sockaddr*>(&connection.peer), Transport::tcp};
      reply_length = answer_query(*context_.snapshot, {unread.data() + offset + 2, length}, client,
                                  {answer_buffer_.get() + 2, kReplyBufferSize}, context_.state);
    }
    if (reply_length == kAwaitsSignature) {
      park(connection, unread.data() + offset + 2, length);
      offset += 2 + length;
      continue;
    }
    if (reply_length == 0) {
      finish(connection);
      break;
    }
    dns::write_u16(answer_buffer_.get(), static_cast<uint16_t>(reply_length));
    connection.queued.insert(connection.queued.end(), answer_buffer_.get(),
                             answer_buffer_.get() + 2 + reply_length);
    offset += 2 + length;
  }
  unread.erase(unread.begin(), unread.begin() + static_cast<std::ptrdiff_t>(offset));
}

void TcpServer::flush(Connection& connection) noexcept {
  if (connection.closing) return;
  if (!connection.writing && !connection.queued.empty()) {
    // Swapping keeps both buffers' capacity: a busy connection stops allocating.
    connection.in_flight.swap(connection.queued);
    connection.queued.clear();
    const uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(connection.in_flight.data()),
                                     static_cast<unsigned>(connection.in_flight.size()));
    if (uv_write(&connection.write, as_stream(&connection.handle), &buf, 1, on_write) != 0) {
      close_connection(connection);
      return;
    }
    connection.writing = true;
  }
  if (connection.finishing && !connection.writing && connection.parked == 0) {
    close_connection(connection);
  }
}

void TcpServer::park(Connection& connection, const uint8_t* query, size_t size) noexcept {
  Parked::Slot* slot = parked_.park(context_, query, size, uv_now(context_.loop), [this](Parked::Slot& expired) {
    Connection& waiting = *expired.destination;
    --waiting.parked;
    flush(waiting);
  });
  if (slot == nullptr) return;
  slot->destination = &connection;
  ++connection.parked;
}

void TcpServer::answer_parked(const dnssec::SignedDenial& result) noexcept {
  if (context_.state.denial != nullptr) {
    context_.state.denial->now = static_cast<uint32_t>(std::time(nullptr));
  }
  parked_.take_signed(result, [&](Parked::Slot& slot) { answer_late(slot, result); });
}

void TcpServer::answer_late(Parked::Slot& slot, const dnssec::SignedDenial& result) noexcept {
  counters::WorkerCounters& counters = *context_.state.counters;
  Connection& connection = *slot.destination;
  --connection.parked;
  size_t reply_length = 0;
  if (result.signed_ok && context_.snapshot != nullptr) {
    const ClientInfo client{reinterpret_cast<const sockaddr*>(&connection.peer), Transport::tcp};
    reply_length = answer_query(*context_.snapshot, {slot.query, slot.size}, client,
                                {answer_buffer_.get() + 2, kReplyBufferSize}, context_.state);
  }
  // A second NSEC to wait for (a wildcard CNAME to a missing name): the same
  // slot waits again; still unsigned for the same NSEC: no second wait.
  const auto repark = reply_length == kAwaitsSignature ? parked_.repark(context_, slot, result)
                                                       : Parked::Repark::same_nsec;
  if (repark == Parked::Repark::waiting_again) {
    ++connection.parked;
  } else if (repark == Parked::Repark::dropped) {
    // counted by the lot
  } else if (reply_length == kAwaitsSignature || reply_length == 0) {
    counters.denial_dropped.add();
  } else {
    dns::write_u16(answer_buffer_.get(), static_cast<uint16_t>(reply_length));
    connection.queued.insert(connection.queued.end(), answer_buffer_.get(),
                             answer_buffer_.get() + 2 + reply_length);
    counters.denial_answered_late.add();
  }
  flush(connection);
}

void TcpServer::on_write(uv_write_t* request, int status) {
  Connection& connection = *static_cast<Connection*>(request->data);
  TcpServer& self = *connection.owner;
  connection.writing = false;
  if (connection.closing) return;  // cancelled by uv_close; on_close frees it
  if (status < 0) {
    self.close_connection(connection);
    return;
  }
  connection.in_flight.clear();
  self.touch(connection);
  self.flush(connection);
  if (connection.closing || !connection.paused) return;
  connection.paused = false;
  self.answer_pending(connection);
  if (!connection.paused && !connection.finishing && !connection.closing) {
    uv_read_start(as_stream(&connection.handle), on_alloc, on_read);
  }
  self.flush(connection);
}

void TcpServer::finish(Connection& connection) noexcept {
  connection.finishing = true;
  uv_read_stop(as_stream(&connection.handle));
}

void TcpServer::touch(Connection& connection) noexcept {
  connection.last_active = uv_now(context_.loop);
  active_.splice(active_.end(), active_, connection.self);
}

void TcpServer::close_connection(Connection& connection) noexcept {
  if (connection.closing) return;
  connection.closing = true;
  // Its parked queries are forgotten: nobody would read their answers.
  if (connection.parked > 0) {
    parked_.forget(context_, [&](const Connection* waiting) { return waiting == &connection; });
    connection.parked = 0;
  }
  closing_.splice(closing_.end(), active_, connection.self);
  context_.state.counters->tcp_open.set(active_.size());
  uv_close(as_handle(&connection.handle), on_close);
}

void TcpServer::on_close(uv_handle_t* handle) {
  auto& connection = *static_cast<Connection*>(handle->data);
  connection.owner->closing_.erase(connection.self);
}

void TcpServer::on_idle_timer(uv_timer_t* timer) {
  TcpServer& self = *static_cast<TcpServer*>(timer->data);
  const uint64_t now = uv_now(self.context_.loop);
  while (!self.active_.empty() && now - self.active_.front().last_active >= self.idle_timeout_ms_) {
    self.close_connection(self.active_.front());
  }
  self.arm_idle_timer();
}

void TcpServer::arm_idle_timer() noexcept {
  if (closed_ || active_.empty()) return;
  // Activity only moves deadlines later, so the timer may fire early (and
  // re-arm) but never late.
  const uint64_t now = uv_now(context_.loop);
  const uint64_t due = active_.front().last_active + idle_timeout_ms_;
  uv_timer_start(&idle_timer_, on_idle_timer, due > now ? due - now : 0, 0);
}

}  // namespace rotor::net
