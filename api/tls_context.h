#pragma once
// The API's TLS server context (api.tls): the certificate chain and private
// key loaded from PEM files into an OpenSSL SSL_CTX, TLS 1.2 or later, no
// renegotiation. GuardedServer wraps each accepted socket in an SSL from it,
// inside its own connection loop, so TLS connections keep the per-request
// deadline and byte budget (httplib's SSLServer would bring its own loop and
// lose them).
//
// Thread-safety: immutable once loaded; SSL_new from many threads is safe.
// Errors: load throws config::ConfigError naming api.tls.cert or api.tls.key,
// the file and OpenSSL's reason.

#include <memory>
#include <string>

#include "server/config/config.h"

struct ssl_ctx_st;

namespace rotor::api {

class TlsContext {
 public:
  static std::shared_ptr<const TlsContext> load(const config::ApiTls& tls);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const noexcept { return context_; }

 private:
  explicit TlsContext(ssl_ctx_st* context) : context_(context) {}
  ssl_ctx_st* context_;
};

}  // namespace rotor::api
