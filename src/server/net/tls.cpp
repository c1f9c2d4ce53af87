#include "server/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <string>

namespace shicks::net {

namespace {
[[noreturn]] void fail(const char* what) {
  unsigned long e = ::ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ::ERR_error_string_n(e, buf, sizeof buf);
  ::ERR_clear_error();
  throw std::runtime_error(std::string("TLS setup: ") + what + ": " + buf);
}
}  // namespace

void apply_tls_policy(asio::ssl::context& ctx, TlsRole role) {
  SSL_CTX* c = ctx.native_handle();
  if (::SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) fail("minimum protocol version");
  if (::SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) fail("TLS 1.2 cipher list");
  if (::SSL_CTX_set_ciphersuites(c, kTls13Ciphersuites) != 1) fail("TLS 1.3 cipher suites");
  // No TLS compression (CRIME); no renegotiation (nothing needs it, and a client could
  // make the server redo the expensive part of a handshake at will).
  auto opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
  if (role == TlsRole::server) opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  ::SSL_CTX_set_options(c, opts);
}

}  // namespace shicks::net
