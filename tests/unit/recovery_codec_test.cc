// recovery/codec.h: CSRs in JSON both ways, and kubectl 1.32's protobuf
// approval body (tests/fixtures/recovery-api, captured by capture.py there)
// decoded; every truncation and single-byte change of it is an error or a
// value, never a crash or an out-of-bounds read (run under ASan in CI).
#include <gtest/gtest.h>

#include "k8s/text.h"
#include "pki_testing.h"
#include "recovery/codec.h"
#include "recovery/csr.h"

namespace cpr::recovery {
namespace {

const std::string kFixture =
    std::string(CPR_FIXTURES) + "/recovery-api/kubectl-1.32-approve-put.pb";

TEST(RecoveryCodec, JsonRoundTrip) {
  Csr c;
  c.name = "node-csr-abc";
  c.uid = "u-1";
  c.resource_version = 42;
  c.creation_timestamp = "2026-12-05T01:02:03Z";
  c.annotations["a"] = "b";
  c.request = "-----BEGIN CERTIFICATE REQUEST-----\nxx\n-----END CERTIFICATE REQUEST-----\n";
  c.signer_name = "kubernetes.io/kube-apiserver-client-kubelet";
  c.usages = {"digital signature", "client auth"};
  c.username = "system:bootstrap:abcdef";
  c.groups = {"system:bootstrappers"};
  c.expiration_seconds = 3600;
  c.conditions.push_back({"Approved", "True", "R", "M", "2026-12-05T01:02:04Z", ""});
  c.certificate = "PEM";
  const Json j = CsrToJson(c, "v1beta1");
  EXPECT_EQ(j["apiVersion"], "certificates.k8s.io/v1beta1");
  EXPECT_EQ(j["metadata"]["resourceVersion"], "42");
  auto back = CsrFromJson(j.dump());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->name, c.name);
  EXPECT_EQ(back->request, c.request);
  EXPECT_EQ(back->usages, c.usages);
  EXPECT_EQ(back->expiration_seconds, c.expiration_seconds);
  EXPECT_EQ(back->conditions.size(), 1u);
  EXPECT_EQ(back->conditions[0].reason, "R");
  EXPECT_EQ(back->certificate, "PEM");
  EXPECT_TRUE(back->has_body_resource_version);
  EXPECT_EQ(ConditionText(*back), "Approved,Issued");
}

TEST(RecoveryCodec, JsonErrorsNameTheField) {
  for (const char* bad :
       {"", "[]", "{\"spec\":[]}", "{\"spec\":{\"usages\":\"x\"}}",
        "{\"spec\":{\"request\":\"%%%\"}}", "{\"metadata\":{\"resourceVersion\":\"x\"}}",
        "{\"status\":{\"conditions\":[1]}}"}) {
    auto r = CsrFromJson(bad);
    EXPECT_FALSE(r) << bad;
  }
  auto r = CsrFromJson("{\"spec\":{\"usages\":\"x\"}}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().where, "spec.usages");
  // kubectl sends lastTransitionTime: null
  auto ok = CsrFromJson(
      R"({"status":{"conditions":[{"type":"Approved","status":"True","lastTransitionTime":null}]}})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->conditions[0].last_transition_time, "");
}

TEST(RecoveryCodec, Kubectl132ProtobufApproval) {
  const std::string body = testing::ReadAll(kFixture);
  ASSERT_GT(body.size(), 100u);
  auto c = DecodeCsrBody("application/vnd.kubernetes.protobuf", body);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->name, "node-w1-renewal");
  EXPECT_TRUE(c->has_body_resource_version);
  EXPECT_EQ(c->resource_version, 1);
  EXPECT_EQ(c->signer_name, "kubernetes.io/kube-apiserver-client-kubelet");
  EXPECT_EQ(c->usages,
            (std::vector<std::string>{"digital signature", "key encipherment", "client auth"}));
  EXPECT_EQ(c->username, "system:node:w1");
  EXPECT_NE(c->request.find("-----BEGIN CERTIFICATE REQUEST-----"), std::string::npos);
  ASSERT_EQ(c->conditions.size(), 1u);
  EXPECT_EQ(c->conditions[0].type, "Approved");
  EXPECT_EQ(c->conditions[0].status, "True");
  EXPECT_EQ(c->conditions[0].reason, "KubectlApprove");
  EXPECT_FALSE(c->conditions[0].last_update_time.empty());
}

TEST(RecoveryCodec, DamagedProtobufNeverCrashes) {
  const std::string body = testing::ReadAll(kFixture);
  ASSERT_FALSE(body.empty());
  int errors = 0;
  for (size_t n = 0; n < body.size(); n++) {
    auto r = CsrFromProtobuf(Bytes(body.data(), n));
    errors += !r;
  }
  EXPECT_EQ(errors, static_cast<int>(body.size()));  // every truncation is refused
  for (size_t i = 0; i < body.size(); i++) {
    std::string flipped = body;
    flipped[i] = static_cast<char>(flipped[i] ^ 0xff);
    (void)CsrFromProtobuf(flipped);  // an error or a value; ASan checks the reads
  }
  EXPECT_FALSE(CsrFromProtobuf(std::string("k8s\0garbage", 11)));
  EXPECT_FALSE(DecodeCsrBody("text/plain", "{}"));
}

TEST(RecoveryCodec, AgesAndTimes) {
  EXPECT_EQ(ShortAge(45), "45s");
  EXPECT_EQ(ShortAge(7 * 60 + 2), "7m2s");
  EXPECT_EQ(ShortAge(25 * 60), "25m");
  EXPECT_EQ(ShortAge(3 * 3600 + 4 * 60), "3h4m");
  EXPECT_EQ(ShortAge(26 * 3600), "26h");
  EXPECT_EQ(ShortAge(3 * 86400 + 4 * 3600), "3d4h");
  EXPECT_EQ(ShortAge(12 * 86400), "12d");
  EXPECT_EQ(ParseRfc3339(k8s::FormatRfc3339(1700000000)), 1700000000);
  EXPECT_EQ(ParseRfc3339("2026-12-05T01:02:03.123456Z"), ParseRfc3339("2026-12-05T01:02:03Z"));
  EXPECT_FALSE(ParseRfc3339("2026-12-05 01:02:03"));
}

}  // namespace
}  // namespace cpr::recovery
