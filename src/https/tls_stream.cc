#include "https/tls_stream.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cpr::https {
namespace {

int RemainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : left > 60000 ? 60000 : static_cast<int>(left) + 1;
}

// The peer closed the TCP connection without a TLS close_notify (OpenSSL 3
// reports it as an error, older versions as SSL_ERROR_SYSCALL with no error).
bool PeerJustClosed(int err) {
  if (err == SSL_ERROR_ZERO_RETURN) return true;
  const unsigned long e = ERR_peek_error();
  if (err == SSL_ERROR_SYSCALL && e == 0) return true;
  return err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
         ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

std::string SslErrorText() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

TlsStream::TlsStream(int fd, SSL_CTX* ctx) : fd_(fd), ssl_(SSL_new(ctx)) {
  if (ssl_) SSL_set_fd(ssl_, fd_);
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
  ::close(fd_);
}

void TlsStream::Abort() { ::shutdown(fd_, SHUT_RDWR); }

bool TlsStream::Wait(bool want_write, Clock::time_point deadline, std::string* why) {
  for (;;) {
    const int ms = RemainingMs(deadline);
    if (ms == 0) {
      *why = "deadline passed";
      return false;
    }
    pollfd p{fd_, static_cast<short>(want_write ? POLLOUT : POLLIN), 0};
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;  // ready, or an error the next call reports
    if (rc < 0 && errno != EINTR) {
      *why = std::string("poll: ") + std::strerror(errno);
      return false;
    }
  }
}

bool TlsStream::Handshake(Clock::time_point deadline, std::string* why, bool* quiet) {
  *quiet = false;
  if (!ssl_) {
    *why = "SSL_new failed";
    return false;
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_accept(ssl_);
    if (rc == 1) return true;
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_WRITE, deadline, why)) {
        *why = "TLS handshake not done in time (" + *why + ")";
        return false;
      }
      continue;
    }
    if (PeerJustClosed(err)) {
      *quiet = true;
      *why = "closed during the TLS handshake";
      ERR_clear_error();
      return false;
    }
    *why = "TLS handshake failed: " + SslErrorText();
    return false;
  }
}

long TlsStream::Read(char* buf, size_t n, Clock::time_point deadline, std::string* why) {
  for (;;) {
    ERR_clear_error();
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, buf, n, &got);
    if (rc == 1) return static_cast<long>(got);
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_WRITE, deadline, why)) return -1;
      continue;
    }
    if (PeerJustClosed(err)) {
      // EOF with or without close_notify: the peer is gone either way.
      ERR_clear_error();
      return 0;
    }
    *why = SslErrorText();
    return -1;
  }
}

bool TlsStream::Write(std::string_view data, Clock::time_point deadline, std::string* why) {
  while (!data.empty()) {
    ERR_clear_error();
    size_t put = 0;
    const int rc = SSL_write_ex(ssl_, data.data(), data.size(), &put);
    if (rc == 1) {
      data.remove_prefix(put);
      continue;
    }
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_WRITE, deadline, why)) return false;
      continue;
    }
    *why = err == SSL_ERROR_SYSCALL ? std::string("connection lost") : SslErrorText();
    return false;
  }
  return true;
}

void TlsStream::Close(Clock::time_point deadline, size_t drain_bytes) {
  std::string why;
  ERR_clear_error();
  // One close_notify; not waiting for the peer's.
  for (int i = 0; i < 4; i++) {
    const int rc = SSL_shutdown(ssl_);
    if (rc >= 0) break;
    const int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_WRITE || !Wait(true, deadline, &why)) break;
  }
  ERR_clear_error();
  ::shutdown(fd_, SHUT_WR);
  char buf[4096];
  while (drain_bytes > 0 && Wait(false, deadline, &why)) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (n > 0) drain_bytes -= std::min(drain_bytes, static_cast<size_t>(n));
  }
}

std::vector<pki::Certificate> TlsStream::VerifiedPeerChain() const {
  std::vector<pki::Certificate> out;
  if (!ssl_ || SSL_get_verify_result(ssl_) != X509_V_OK) return out;
  X509* leaf = SSL_get0_peer_certificate(ssl_);
  if (!leaf) return out;
  STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl_);
  if (!chain) return out;
  for (int i = 0; i < sk_X509_num(chain); i++) {
    X509* x = sk_X509_value(chain, i);
    X509_up_ref(x);
    out.push_back(pki::Certificate::Adopt(x));
  }
  return out;
}

}  // namespace cpr::https
