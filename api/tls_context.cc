#include "api/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace rotor::api {

namespace {

// OpenSSL's reason for the last failure ("no such file", "key values
// mismatch"), the queue emptied for the next caller on this thread.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : text;
}

// OpenSSL says only "system lib" for a file it cannot open: say why.
void check_readable(const std::string& file, const char* key) {
  std::FILE* opened = std::fopen(file.c_str(), "r");
  if (opened == nullptr) {
    throw config::ConfigError(key, "cannot read \"" + file + "\": " + std::strerror(errno));
  }
  std::fclose(opened);
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::load(const config::ApiTls& tls) {
  check_readable(tls.cert, "api.tls.cert");
  check_readable(tls.key, "api.tls.key");
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) throw config::ConfigError("api.tls", "cannot make a TLS context: " + openssl_reason());
  std::shared_ptr<const TlsContext> context(new TlsContext(raw));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  // A client asking to renegotiate again and again costs the server handshakes.
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(raw, tls.cert.c_str()) != 1) {
    throw config::ConfigError("api.tls.cert", "cannot load a PEM certificate from \"" + tls.cert +
                                                  "\": " + openssl_reason());
  }
  const bool key_loaded = SSL_CTX_use_PrivateKey_file(raw, tls.key.c_str(), SSL_FILETYPE_PEM) == 1;
  // OpenSSL checks the pair as it loads the key; a mismatch gets its own words.
  const bool mismatch = !key_loaded && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
  if (!key_loaded && !mismatch) {
    throw config::ConfigError("api.tls.key", "cannot load a PEM private key from \"" + tls.key +
                                                 "\": " + openssl_reason());
  }
  if (mismatch || SSL_CTX_check_private_key(raw) != 1) {
    throw config::ConfigError("api.tls.key", "\"" + tls.key + "\" is not the key of the certificate in \"" +
                                                 tls.cert + "\": " + openssl_reason());
  }
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(context_); }

}  // namespace rotor::api
