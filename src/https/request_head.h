// HTTP/1.1 request heads: found in a byte stream and parsed under limits,
// before anything else of the request is read. A pure function of the bytes,
// so every limit is unit-tested.
//
// Accepted: origin-form targets ("/path?query"), HTTP/1.0 and HTTP/1.1,
// header lines ending in CRLF (a bare LF too), bodies framed by one
// Content-Length. Refused, with the status to answer: a head over
// max_bytes (431), more than max_headers header lines (431), a malformed
// request line or header (400), obsolete line folding (400), a
// Transfer-Encoding (411: CPR's clients, kubectl included, send
// Content-Length), conflicting Content-Lengths (400), other HTTP versions
// (505).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cpr::https {

struct HeadLimits {
  size_t max_bytes = 16 * 1024;  // request line + headers + the blank line
  size_t max_headers = 64;
};

struct RequestHead {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/apis/x?watch=1"
  std::string path;    // target up to '?', not percent-decoded
  std::string query;   // after '?', not decoded ("" if none)
  int minor_version = 1;
  // In order, names lower-cased, values trimmed of surrounding blanks.
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t content_length = 0;  // 0 when no Content-Length was sent
  bool keep_alive = true;       // HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
  bool expect_continue = false;

  // The first value of a header (name in any case); "" if absent.
  std::string Header(std::string_view name) const;
};

struct HeadError {
  int status = 400;
  std::string reason;  // for logs and the response body
};

// Where the head in `buf` ends (the index just past its blank line), or 0
// when `buf` holds no complete head yet.
size_t FindHeadEnd(std::string_view buf);

// Parses a complete head (as delimited by FindHeadEnd). Exactly one of the
// results is set.
struct ParsedHead {
  std::optional<RequestHead> head;
  std::optional<HeadError> error;
};
ParsedHead ParseRequestHead(std::string_view head, const HeadLimits& limits);

// Query parameters in order, percent-decoded ('+' is a space); malformed
// escapes are kept as sent.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// The text of a status code's reason phrase ("Not Found").
const char* StatusText(int status);

}  // namespace cpr::https
