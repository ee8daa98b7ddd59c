#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "https/status.h"

namespace cpr::https {
namespace {

TEST(HttpsStatus, KubernetesStatusObjects) {
  auto j = nlohmann::json::parse(StatusJson(404, "certificatesigningrequests \"x\" not found"));
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["code"], 404);
  EXPECT_EQ(j["message"], "certificatesigningrequests \"x\" not found");
  EXPECT_EQ(nlohmann::json::parse(StatusJson(409, "changed", "Conflict"))["reason"], "Conflict");
  EXPECT_STREQ(StatusReason(431), "BadRequest");
  EXPECT_STREQ(StatusReason(502), "InternalError");
  // Invalid UTF-8 in a message does not make the body invalid JSON.
  EXPECT_FALSE(
      nlohmann::json::parse(StatusJson(400, "bad \xff byte"), nullptr, false).is_discarded());
}

TEST(HttpsStatus, BearerTokens) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("BEARER \tabc \r"), "abc");
  EXPECT_EQ(BearerToken("Bearerabc"), "");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken("Bearer " + std::string(4097, 'a')), "");
}

}  // namespace
}  // namespace cpr::https
