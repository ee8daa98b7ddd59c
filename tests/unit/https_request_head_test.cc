#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "https/request_head.h"

namespace cpr::https {
namespace {

ParsedHead Parse(const std::string& text, HeadLimits limits = {}) {
  return ParseRequestHead(text, limits);
}

int StatusOf(const std::string& text, HeadLimits limits = {}) {
  ParsedHead p = Parse(text, limits);
  return p.error ? p.error->status : 0;
}

TEST(RequestHead, FindsTheEndOfTheHead) {
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n"), 0u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0u);
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(FindHeadEnd(head + "body"), head.size());
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\nHost: a\n\nbody"), 24u);
}

TEST(RequestHead, ParsesRequestLineHeadersAndFraming) {
  ParsedHead p = Parse(
      "POST /apis/x/y?watch=1&fieldSelector=metadata.name%3Dcsr-1 HTTP/1.1\r\n"
      "Host: a\r\nContent-Type:  application/json \r\nContent-Length: 12\r\n"
      "Authorization: Bearer abc\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(p.head) << p.error->reason;
  EXPECT_EQ(p.head->method, "POST");
  EXPECT_EQ(p.head->path, "/apis/x/y");
  EXPECT_EQ(p.head->query, "watch=1&fieldSelector=metadata.name%3Dcsr-1");
  EXPECT_EQ(p.head->Header("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(p.head->content_length, 12u);
  EXPECT_TRUE(p.head->keep_alive);
  EXPECT_TRUE(p.head->expect_continue);
  auto q = ParseQuery(p.head->query);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1].first, "fieldSelector");
  EXPECT_EQ(q[1].second, "metadata.name=csr-1");
}

TEST(RequestHead, KeepAliveRules) {
  EXPECT_FALSE(Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").head->keep_alive);
  EXPECT_FALSE(Parse("GET / HTTP/1.0\r\n\r\n").head->keep_alive);
  EXPECT_TRUE(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head->keep_alive);
}

TEST(RequestHead, HeaderCountAndSizeLimits) {
  HeadLimits limits;
  limits.max_headers = 4;
  limits.max_bytes = 200;
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 4; i++) head += "X-A: 1\r\n";
  EXPECT_EQ(StatusOf(head + "\r\n", limits), 0);
  EXPECT_EQ(StatusOf(head + "X-B: 2\r\n\r\n", limits), 431);
  EXPECT_EQ(StatusOf("GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n", limits),
            431);
  // The defaults: 64 headers, 16 KiB.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 65; i++) many += "X: 1\r\n";
  EXPECT_EQ(StatusOf(many + "\r\n"), 431);
}

// Each head with the status it is answered (0: accepted).
void ExpectStatuses(const std::vector<std::pair<std::string, int>>& cases) {
  for (const auto& [head, status] : cases) EXPECT_EQ(StatusOf(head), status) << head;
}

TEST(RequestHead, RefusesMalformedHeads) {
  ExpectStatuses({
      {"\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"GET http://x/ HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n: empty-name\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\x01"
       "b\r\n\r\n",
       400},
      {"GET /a\x7f HTTP/1.1\r\n\r\n", 400},
  });
}

TEST(RequestHead, BodyFraming) {
  ExpectStatuses({
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
  });
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nContent-Length: 123456789012\r\n\r\n").head->content_length,
            123456789012u);
}

TEST(RequestHead, QueryDecoding) {
  auto q = ParseQuery("a=1&&b=x+y&c&d=%zz&e=%41");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1].second, "x y");
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3].second, "%zz");
  EXPECT_EQ(q[4].second, "A");
}

TEST(RequestHead, MutatedHeadsGetAnAnswerNeverACrash) {
  const std::string good =
      "POST /apis/certificates.k8s.io/v1/certificatesigningrequests?x=1 HTTP/1.1\r\n"
      "Host: a\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
      "Authorization: Bearer abc\r\nConnection: keep-alive\r\n\r\n";
  std::mt19937 rng(7);
  HeadLimits limits;
  limits.max_bytes = 512;
  limits.max_headers = 8;
  for (int i = 0; i < 20000; i++) {
    std::string h = good;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; e++) {
      const size_t at = rng() % h.size();
      switch (rng() % 3) {
        case 0:
          h[at] = static_cast<char>(rng());
          break;
        case 1:
          h.erase(at, 1 + rng() % 8);
          break;
        default:
          h.insert(at, std::string(1 + rng() % 300, static_cast<char>(rng())));
      }
      if (h.empty()) h = "x";
    }
    const size_t end = FindHeadEnd(h);
    ASSERT_LE(end, h.size());
    const ParsedHead p = ParseRequestHead(end ? std::string_view(h).substr(0, end) : h, limits);
    ASSERT_NE(p.head.has_value(), p.error.has_value());
    if (p.error) {
      ASSERT_TRUE(p.error->status >= 400 && p.error->status < 600);
    }
    if (p.head) {
      ASSERT_FALSE(p.head->method.empty());
      ASSERT_EQ(p.head->target.front(), '/');
      ASSERT_LE(p.head->headers.size(), limits.max_headers);
    }
  }
}

}  // namespace
}  // namespace cpr::https
