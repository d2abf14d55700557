#include "server/net/worker.h"

#include <stdexcept>
#include <string>

namespace rotor::net {

namespace {
uv_loop_t* initialized(uv_loop_t* loop) {
  const int rc = uv_loop_init(loop);
  if (rc != 0) throw std::runtime_error(std::string("cannot create event loop: ") + uv_strerror(rc));
  return loop;
}
}  // namespace

Worker::Worker(SnapshotPublisher& publisher, std::chrono::milliseconds tcp_idle_timeout,
               size_t tcp_max_connections, RateLimiter* rate_limiter,
               std::chrono::milliseconds quiet_window)
    : publisher_(publisher),
      quiet_window_ms_(static_cast<uint64_t>(quiet_window.count())),
      context_{.loop = initialized(&loop_), .rate_limiter = rate_limiter},
      tcp_(context_, tcp_idle_timeout, tcp_max_connections) {
  // uv_async_init only fails when the loop's wake-up fd cannot be created,
  // which uv_loop_init has already done.
  uv_async_init(&loop_, &snapshot_wake_, on_snapshot_published);
  uv_async_init(&loop_, &stop_wake_, on_stop_requested);
  uv_async_init(&loop_, &denial_wake_, on_signatures);
  uv_timer_init(&loop_, &quiet_window_);
  quiet_window_.data = this;
  snapshot_wake_.data = this;
  stop_wake_.data = this;
  denial_wake_.data = this;
}

Worker::~Worker() {
  unsubscribe();
  close_handles();
  uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
  uv_loop_close(&loop_);
}

void Worker::attach_denial_signer(dnssec::DenialSigner& signer) {
  context_.denial_channel = &signer.attach([this] { uv_async_send(&denial_wake_); });
}

void Worker::on_signatures(uv_async_t* async) {
  // Several results may come with one wake-up (uv_async_send coalesces).
  auto& self = *static_cast<Worker*>(async->data);
  WorkerContext& context = self.context_;
  if (context.denial_channel == nullptr) return;
  dnssec::SignedDenial result;
  while (context.denial_channel->take(result)) {
    DenialState* denial = context.state.denial.get();
    if (result.signed_ok) context.state.counters->denial_signed.add();
    if (denial != nullptr && denial->is_current(result.key.get())) denial->cache.insert(result);
    self.tcp_.answer_parked(result);
    result.key.reset();
  }
}

void Worker::subscribe() {
  // Subscribe first, then read: a publish in between wakes us and is not lost.
  context_.publisher = &publisher_;
  context_.published = &published_;
  subscription_ = publisher_.subscribe([this] {
    published_.fetch_add(1);
    if (!wake_sent_.exchange(true)) uv_async_send(&snapshot_wake_);
  });
  context_.seen = published_.load();
  adopt_snapshot(context_, publisher_.current());
}

void Worker::unsubscribe() {
  if (subscription_ == 0) return;
  publisher_.unsubscribe(subscription_);
  subscription_ = 0;
}

void Worker::run() noexcept { uv_run(&loop_, UV_RUN_DEFAULT); }

void Worker::request_stop() noexcept { uv_async_send(&stop_wake_); }

void Worker::on_snapshot_published(uv_async_t* async) {
  // Runs between callbacks, never inside a batch, so a query never sees two
  // snapshots. Several publishes may coalesce into one wake-up: current() is
  // the newest, which is all a worker needs.
  auto& self = *static_cast<Worker*>(async->data);
  follow_publisher(self.context_);  // nothing new if a TCP read took it already
  uv_timer_start(&self.quiet_window_, on_quiet_window_end, self.quiet_window_ms_, 0);
}

void Worker::on_quiet_window_end(uv_timer_t* timer) {
  auto& self = *static_cast<Worker*>(timer->data);
  self.wake_sent_.store(false);
  if (self.published_.load() == self.context_.seen) return;  // the next publish wakes us
  // Publishes came within the window: take the newest, and wait out another.
  self.wake_sent_.store(true);
  follow_publisher(self.context_);
  uv_timer_start(&self.quiet_window_, on_quiet_window_end, self.quiet_window_ms_, 0);
}

void Worker::on_stop_requested(uv_async_t* async) {
  static_cast<Worker*>(async->data)->close_handles();
}

void Worker::close_handles() noexcept {
  if (handles_closed_) return;
  handles_closed_ = true;
  tcp_.close();
  uv_close(reinterpret_cast<uv_handle_t*>(&snapshot_wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&quiet_window_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&denial_wake_), nullptr);
  // The snapshot is let go here, on the worker, as the brief's swap would.
  context_.snapshot = nullptr;
  context_.snapshot_owner.reset();
}

}  // namespace rotor::net
