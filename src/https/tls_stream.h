// One server-side TLS connection over a nonblocking socket, every operation
// bounded by an absolute deadline (a slow peer gets no more time by sending a
// byte now and then: the deadline is for the whole handshake, the whole head,
// the whole body).
//
// Thread-safety: one thread uses a TlsStream; Abort() may be called from
// another (it shuts the socket down so that a blocked operation returns).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "pki/cert.h"

namespace cpr::https {

using Clock = std::chrono::steady_clock;

class TlsStream {
 public:
  // Takes ownership of `fd` (nonblocking); `ctx` must outlive the stream.
  TlsStream(int fd, SSL_CTX* ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The TLS handshake. On failure, `why` says what went wrong; `quiet` is
  // set when the peer just closed (a port probe), which is not worth a log line.
  bool Handshake(Clock::time_point deadline, std::string* why, bool* quiet);

  // Reads what is available, at most n bytes, waiting until `deadline`.
  // > 0: bytes read; 0: the peer closed; -1: error or deadline (`why`).
  long Read(char* buf, size_t n, Clock::time_point deadline, std::string* why);

  // Writes all of `data` by `deadline`.
  bool Write(std::string_view data, Clock::time_point deadline, std::string* why);

  // close_notify (best effort, bounded by `deadline`), then the socket's send
  // side is shut; what the peer still sends is read and dropped for a little
  // while, so that a response sent before the request was read is not lost
  // to a TCP reset.
  void Close(Clock::time_point deadline, size_t drain_bytes);

  // From another thread: make any blocked operation fail now.
  void Abort();

  // The client certificate chain, verified against the server's client CAs
  // (leaf first); empty if the client sent none.
  std::vector<pki::Certificate> VerifiedPeerChain() const;

  int fd() const { return fd_; }

 private:
  // Waits for the socket to be readable (want_write false) or writable.
  bool Wait(bool want_write, Clock::time_point deadline, std::string* why);

  int fd_;
  SSL* ssl_;
};

}  // namespace cpr::https
