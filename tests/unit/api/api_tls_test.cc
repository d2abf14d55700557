// The API over TLS (api.tls): HTTPS with a certificate the test makes, a
// clean refusal of plain HTTP on the TLS port, bad certificate files named
// in errors, and the hostile-client limits holding for TLS connections.

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "api/tls_context.h"
#include "tests/unit/api/api_rig.h"
#include "tests/unit/api/raw_client.h"
#include "tests/unit/api/test_certificate.h"

namespace rotor::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using registry::test::ScratchDir;
using test::RawClient;
using test::Rig;

// A certificate in a scratch directory and the API serving it.
struct TlsRig {
  explicit TlsRig(ConnectionLimits limits = {}) {
    test::write_test_certificate(cert, key);
    rig = std::make_unique<Rig>(ApiOptions{.limits = limits, .tls = TlsContext::load({cert, key})});
  }
  std::unique_ptr<httplib::SSLClient> client(bool trust = true) const {
    auto out = std::make_unique<httplib::SSLClient>("127.0.0.1", rig->port);
    if (trust) out->set_ca_cert_path(cert.c_str());
    out->enable_server_certificate_verification(true);
    out->set_connection_timeout(2s);
    out->set_read_timeout(5s);
    return out;
  }

  ScratchDir dir;
  std::string cert = dir.file("cert.pem");
  std::string key = dir.file("key.pem");
  std::unique_ptr<Rig> rig;
};

// An OpenSSL client over a RawClient's socket, for what httplib's client will not do.
class TlsClient {
 public:
  TlsClient(RawClient& raw, const std::string& ca_file)
      : context_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free), ssl_(nullptr, SSL_free) {
    REQUIRE(SSL_CTX_load_verify_locations(context_.get(), ca_file.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    ssl_.reset(SSL_new(context_.get()));
    SSL_set_fd(ssl_.get(), raw.fd());
    REQUIRE(SSL_connect(ssl_.get()) == 1);
    // Non-blocking from here, so that reading never waits past the test's polls.
    ::fcntl(raw.fd(), F_SETFL, ::fcntl(raw.fd(), F_GETFL) | O_NONBLOCK);
    fd_ = raw.fd();
  }
  bool write(const std::string& bytes) {
    ERR_clear_error();
    return SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  // True when the server closed the connection within `wait`.
  bool closed_within(std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline) {
      pollfd entry{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (::poll(&entry, 1, static_cast<int>(left.count()) + 1) <= 0) return false;
      char buffer[4096];
      ERR_clear_error();
      const int got = SSL_read(ssl_.get(), buffer, sizeof buffer);
      if (got > 0) continue;
      const int error = SSL_get_error(ssl_.get(), got);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) return true;
    }
    return false;
  }

 private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  int fd_ = -1;
};

TEST_SUITE("unit/api/api_tls") {
  TEST_CASE("HTTPS works with the certificate as CA and not without it") {
    TlsRig tls;
    const auto client = tls.client();
    auto health = client->Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(nlohmann::json::parse(health->body)["status"] == "ok");
    auto put = client->Put("/v1/arrays/web.lb.example.com", "{}", "application/json");
    REQUIRE(put);
    CHECK(put->status == 201);
    auto arrays = client->Get("/v1/arrays");  // the same connection, kept alive
    REQUIRE(arrays);
    CHECK(nlohmann::json::parse(arrays->body)["arrays"].size() == 1);

    auto refused = tls.client(false)->Get("/healthz");
    CHECK_FALSE(refused);
    CHECK(refused.error() == httplib::Error::SSLServerVerification);
  }

  TEST_CASE("plain HTTP to the TLS port gets a plain 400 saying so") {
    TlsRig tls;
    httplib::Client plain("127.0.0.1", tls.rig->port);
    plain.set_read_timeout(5s);
    auto reply = plain.Get("/healthz");
    REQUIRE(reply);
    CHECK(reply->status == 400);
    CHECK(nlohmann::json::parse(reply->body)["error"]["message"] ==
          "this port speaks HTTPS (TLS); use https://");
  }

  TEST_CASE("a silent client and a stalled handshake are cut off") {
    TlsRig tls(ConnectionLimits{.request_deadline = 1000ms, .io_timeout = 300ms});
    {
      RawClient silent(tls.rig->port);
      bool closed = false;
      silent.read_until_close(5s, closed);
      CHECK(closed);
    }
    {
      // The first bytes of a ClientHello record header, then nothing.
      RawClient stalled(tls.rig->port);
      REQUIRE(stalled.send(std::string("\x16\x03\x01", 3)));
      bool closed = false;
      stalled.read_until_close(5s, closed);
      CHECK(closed);
    }
    // The API still serves.
    auto health = tls.client()->Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
  }

  TEST_CASE("a request trickled over TLS is cut off at the request deadline") {
    TlsRig tls(ConnectionLimits{.request_deadline = 1000ms, .io_timeout = 5000ms});
    RawClient raw(tls.rig->port);
    TlsClient client(raw, tls.cert);
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: rotor\r\nX-Slow: " + std::string(200, 'x');
    const auto start = Clock::now();
    bool closed = false;
    // Each byte arrives well within the silence limit: only the deadline ends this.
    for (size_t i = 0; i < request.size() && !closed; ++i) {
      if (!client.write(request.substr(i, 1))) break;
      closed = client.closed_within(50ms);
    }
    if (!closed) closed = client.closed_within(3s);
    CHECK(closed);
    CHECK(Clock::now() - start < 4s);
  }

  TEST_CASE("bad certificate files are named in the error") {
    ScratchDir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string key = dir.file("key.pem");
    test::write_test_certificate(cert, key);
    const std::string other_cert = dir.file("other-cert.pem");
    const std::string other_key = dir.file("other-key.pem");
    test::write_test_certificate(other_cert, other_key);
    const std::string missing = dir.file("missing.pem");
    struct Case {
      std::string cert;
      std::string key;
      std::string error_start;
    };
    const Case cases[] = {
        {missing, key, "api.tls.cert: cannot read \"" + missing + "\": No such file or directory"},
        {key, key, "api.tls.cert: cannot load a PEM certificate from \"" + key + "\": "},
        {cert, missing, "api.tls.key: cannot read \"" + missing + "\": No such file or directory"},
        {cert, cert, "api.tls.key: cannot load a PEM private key from \"" + cert + "\": "},
        {cert, other_key, "api.tls.key: \"" + other_key + "\" is not the key of the certificate in \"" +
                              cert + "\""},
    };
    for (const Case& test : cases) {
      CAPTURE(test.cert);
      CAPTURE(test.key);
      std::string error;
      try {
        TlsContext::load({test.cert, test.key});
      } catch (const config::ConfigError& caught) {
        error = caught.what();
      }
      CAPTURE(error);
      CHECK(error.rfind(test.error_start, 0) == 0);
    }
    CHECK_NOTHROW(TlsContext::load({cert, key}));
  }
}

}  // namespace
}  // namespace rotor::api
