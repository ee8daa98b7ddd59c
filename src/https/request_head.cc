#include "https/request_head.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace cpr::https {
namespace {

bool IsTokenChar(char c) {
  // RFC 9110 tchar
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `s` at LF, dropping one CR before each LF.
std::vector<std::string_view> Lines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t lf = s.find('\n', start);
    if (lf == std::string_view::npos) lf = s.size();
    std::string_view line = s.substr(start, lf - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = lf + 1;
  }
  return out;
}

bool HasToken(std::string_view list, std::string_view token) {
  // A comma-separated list of tokens, case-insensitive.
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    if (Lower(Trim(list.substr(start, comma - start))) == token) return true;
    start = comma + 1;
  }
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string RequestHead::Header(std::string_view name) const {
  const std::string want = Lower(name);
  for (const auto& [k, v] : headers)
    if (k == want) return v;
  return {};
}

size_t FindHeadEnd(std::string_view buf) {
  // The first empty line: "\n\n" or "\n\r\n".
  for (size_t i = buf.find('\n'); i != std::string_view::npos; i = buf.find('\n', i + 1)) {
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return 0;
}

ParsedHead ParseRequestHead(std::string_view text, const HeadLimits& limits) {
  auto fail = [](int status, std::string reason) {
    return ParsedHead{std::nullopt, HeadError{status, std::move(reason)}};
  };
  if (text.size() > limits.max_bytes)
    return fail(431, fmt::format("request head over {} bytes", limits.max_bytes));
  std::vector<std::string_view> lines = Lines(text);
  // Drop the blank line(s) that end the head.
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return fail(400, "empty request");
  if (lines.size() - 1 > limits.max_headers)
    return fail(431, fmt::format("more than {} header lines", limits.max_headers));

  RequestHead h;
  // Request line: METHOD SP target SP HTTP/1.x
  const std::string_view rl = lines[0];
  const size_t sp1 = rl.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      rl.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  h.method = std::string(rl.substr(0, sp1));
  h.target = std::string(rl.substr(sp1 + 1, sp2 - sp1 - 1));
  const std::string_view version = rl.substr(sp2 + 1);
  if (h.method.empty() || !std::all_of(h.method.begin(), h.method.end(), IsTokenChar))
    return fail(400, "malformed method");
  if (h.target.empty() || h.target[0] != '/')
    return fail(400, "the request target must be a path (origin form)");
  for (char c : h.target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return fail(400, "control or non-ASCII character in the request target");
  if (version == "HTTP/1.1")
    h.minor_version = 1;
  else if (version == "HTTP/1.0")
    h.minor_version = 0;
  else
    return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  const size_t q = h.target.find('?');
  h.path = h.target.substr(0, q);
  if (q != std::string::npos) h.query = h.target.substr(q + 1);

  std::optional<std::string> content_length;
  for (size_t i = 1; i < lines.size(); i++) {
    const std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t')
      return fail(400, "obsolete header line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar))
      return fail(400, "malformed header name");
    const std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return fail(400, "control character in a header value");
    std::string lname = Lower(name);
    if (lname == "content-length") {
      if (value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string_view::npos)
        return fail(400, "malformed Content-Length");
      if (content_length && *content_length != value)
        return fail(400, "conflicting Content-Length");
      content_length = std::string(value);
    } else if (lname == "transfer-encoding") {
      return fail(411, "Transfer-Encoding is not accepted; send Content-Length");
    }
    h.headers.emplace_back(std::move(lname), std::string(value));
  }
  if (content_length) h.content_length = std::stoull(*content_length);
  const std::string connection = h.Header("connection");
  h.keep_alive =
      h.minor_version == 1 ? !HasToken(connection, "close") : HasToken(connection, "keep-alive");
  h.expect_continue = Lower(h.Header("expect")) == "100-continue";
  return ParsedHead{std::move(h), std::nullopt};
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view kv = query.substr(start, amp - start);
    if (!kv.empty()) {
      const size_t eq = kv.find('=');
      out.emplace_back(Decode(kv.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : Decode(kv.substr(eq + 1)));
    }
    start = amp + 1;
  }
  return out;
}

const char* StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

}  // namespace cpr::https
