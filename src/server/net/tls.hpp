#pragma once
// The one TLS policy of shicksd, applied to every context it makes: the listeners'
// (SMTP STARTTLS, SMTPS, POP3 STLS, POP3S) and the relay client's.
//
// TLS 1.2 and 1.3 only. On TLS 1.2 only AEAD suites with forward secrecy: ECDHE with
// AES-GCM or ChaCha20-Poly1305, Mozilla's "intermediate" profile without its DHE
// suites (they would need DH parameters of our own). No CBC suite, no static RSA key
// exchange. As a server the order below decides, not the client's.
#include <asio/ssl/context.hpp>

namespace shicks::net {

// In the server's order of preference.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

enum class TlsRole { server, client };

// Sets the protocol versions, the suites and (for a server) server preference.
// Throws std::runtime_error when the TLS library refuses them.
void apply_tls_policy(asio::ssl::context& ctx, TlsRole role);

}  // namespace shicks::net
