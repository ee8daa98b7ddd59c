// Tests for k8s/value.h: DescribeValue, ObjectJson, ValueDocument.
//
// Fixtures (tests/fixtures/k8s, see its README): values made by
// make_k8s_values.py, which k8s-values.md §9 checks byte for byte against the
// real serializer; each sample's .txt holds the metadata it must decode to.
// Edge cases are built here with a few lines of protobuf encoding.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "k8s/value.h"
#include "util/bytes.h"

namespace cpr::k8s {
namespace {

using Encoding = Object::Encoding;
using Json = nlohmann::ordered_json;
using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CPR_FIXTURES) + "/k8s/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The JSON after "expected decoded metadata:" in a sample's .txt.
nlohmann::json ReadExpectation(const std::string& sample) {
  std::string txt = ReadFixture(sample + ".txt");
  const std::string marker = "expected decoded metadata:\n";
  size_t at = txt.find(marker);
  EXPECT_NE(at, std::string::npos) << sample;
  return nlohmann::json::parse(txt.substr(at + marker.size()));
}

// Expected map (sorted by key, as both Go's map encoding and nlohmann::json
// order them) as the pairs DescribeValue should report in stored order.
Pairs ExpectedPairs(const nlohmann::json& obj) {
  Pairs out;
  for (const auto& [k, v] : obj.items()) out.emplace_back(k, v.get<std::string>());
  return out;
}

// --- a few lines of protobuf encoding, for hand-made values ----------------

std::string Varint(uint64_t v) {
  std::string out;
  AppendUvarint(out, v);
  return out;
}
std::string Ld(uint32_t field, const std::string& payload) {
  return Varint(field << 3 | 2) + Varint(payload.size()) + payload;
}
std::string Vi(uint32_t field, uint64_t v) { return Varint(field << 3) + Varint(v); }

const std::string kMagic("k8s\0", 4);

// The envelope of k8s-values.md §2 around `raw`.
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw, const std::string& content_type = "") {
  return kMagic + Ld(1, Ld(1, api_version) + Ld(2, kind)) + Ld(2, raw) + Ld(3, "") +
         Ld(4, content_type);
}

// A minimal ObjectMeta with the always-written fields (§3.1).
std::string Meta(const std::string& name, const std::string& ns, const std::string& extra = "") {
  return Ld(1, name) + Ld(2, "") + Ld(3, ns) + Ld(4, "") + Ld(5, "uid-1") + Ld(6, "") + Vi(7, 0) +
         Ld(8, Vi(1, 1581336000) + Vi(2, 0)) + extra + Ld(15, "");
}

// --- the samples ----------------------------------------------------------

class SampleTest : public testing::TestWithParam<std::string> {};

TEST_P(SampleTest, DecodesToItsExpectedMetadata) {
  const std::string& sample = GetParam();
  nlohmann::json want = ReadExpectation(sample);
  Object o = DescribeValue(ReadFixture(sample + ".bin"));

  EXPECT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.api_version, want["apiVersion"]);
  EXPECT_EQ(o.kind, want["kind"]);
  EXPECT_EQ(o.name, want["name"]);
  EXPECT_EQ(o.namespace_, want["namespace"]);
  EXPECT_EQ(o.generate_name, want["generateName"]);
  EXPECT_EQ(o.uid, want["uid"]);
  EXPECT_EQ(o.creation_timestamp, want["creationTimestamp"]);
  EXPECT_EQ(o.generation, want["generation"].get<int64_t>());
  EXPECT_EQ(o.labels, ExpectedPairs(want["labels"]));
  EXPECT_EQ(o.annotations, ExpectedPairs(want["annotations"]));
  ASSERT_EQ(o.owner_references.size(), want["ownerReferences"].size());
  for (size_t i = 0; i < o.owner_references.size(); ++i) {
    const OwnerRef& got = o.owner_references[i];
    const auto& w = want["ownerReferences"][i];
    EXPECT_EQ(got.api_version, w["apiVersion"]);
    EXPECT_EQ(got.kind, w["kind"]);
    EXPECT_EQ(got.name, w["name"]);
    EXPECT_EQ(got.uid, w["uid"]);
  }
  EXPECT_TRUE(o.deletion_timestamp.empty());
  EXPECT_TRUE(o.finalizers.empty());
  EXPECT_TRUE(o.encryption_provider.empty());
}

TEST_P(SampleTest, EveryTruncationIsBinary) {
  std::string value = ReadFixture(GetParam() + ".bin");
  for (size_t n = 0; n < value.size(); ++n) {
    Bytes cut(value.data(), n);
    Object o = DescribeValue(cut);
    // "", "k", "k8", "k8s" are readable text; from "k8s\0" on, a broken object.
    EXPECT_EQ(o.encoding, n < 4 ? Encoding::kText : Encoding::kBinary) << "length " << n;
    EXPECT_NO_THROW(ObjectJson(o, 1).dump());
    EXPECT_NO_THROW(ValueDocument(cut, 1).dump());
  }
  EXPECT_EQ(DescribeValue(value).encoding, Encoding::kProtobuf);
}

TEST_P(SampleTest, CorruptedBytesNeverCrash) {
  std::string value = ReadFixture(GetParam() + ".bin");
  std::mt19937 rng(42);
  for (int round = 0; round < 300; ++round) {
    std::string bad = value;
    for (int k = 0; k < 1 + round % 4; ++k) {
      bad[4 + rng() % (bad.size() - 4)] = static_cast<char>(rng());
    }
    Object o = DescribeValue(bad);
    EXPECT_NE(o.encoding, Encoding::kText);  // it still starts with the magic
    EXPECT_NO_THROW(ObjectJson(o, 7).dump());
    EXPECT_NO_THROW(ValueDocument(bad, 7).dump());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SampleTest,
                         testing::Values("pod", "configmap", "secret", "node", "lease", "event"));

TEST(ObjectJsonTest, PodSample) {
  Object o = DescribeValue(ReadFixture("pod.bin"));
  Json j = ObjectJson(o, 4242);
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["kind"], "Pod");
  const Json& m = j["metadata"];
  EXPECT_EQ(m["name"], "frontend-7d9c5b8f6d-x2kqj");
  EXPECT_EQ(m["generateName"], "frontend-7d9c5b8f6d-");
  EXPECT_EQ(m["namespace"], "shop");
  EXPECT_EQ(m["uid"], "bdbbd94e-0471-4df3-b176-7dbf871315e4");
  EXPECT_EQ(m["resourceVersion"], "4242");
  EXPECT_EQ(m["creationTimestamp"], "2020-03-01T10:19:59Z");
  EXPECT_EQ(m["labels"].dump(), R"({"app":"frontend","pod-template-hash":"7d9c5b8f6d"})");
  EXPECT_EQ(m["annotations"]["openshift.io/scc"], "restricted");
  EXPECT_EQ(m["ownerReferences"].dump(),
            R"([{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"frontend-7d9c5b8f6d",)"
            R"("uid":"33b042b8-98bd-40a8-904d-e8585ec178e9","controller":true}])");
  EXPECT_FALSE(m.contains("generation"));  // 0: omitted like Go's omitempty
  EXPECT_FALSE(m.contains("finalizers"));
  EXPECT_FALSE(m.contains("deletionTimestamp"));
  // Go's field order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "generateName", "namespace", "uid",
                                            "resourceVersion", "creationTimestamp", "labels",
                                            "annotations", "ownerReferences"}));
  EXPECT_TRUE(j.dump().starts_with(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":)"));
}

TEST(ObjectJsonTest, NoResourceVersionWithoutRevision) {
  Object o = DescribeValue(ReadFixture("node.bin"));
  EXPECT_FALSE(ObjectJson(o, 0)["metadata"].contains("resourceVersion"));
  EXPECT_FALSE(ObjectJson(o, 0)["metadata"].contains("namespace"));  // cluster-scoped
}

TEST(ObjectJsonTest, DeletingPodWithFinalizersAndController) {
  Object o = DescribeValue(ReadFixture("pod-deleting.bin"));
  ASSERT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.name, "db-0");
  EXPECT_EQ(o.generate_name, "db-");
  EXPECT_EQ(o.generation, 3);
  EXPECT_EQ(o.creation_timestamp, "2020-02-29T23:59:59Z");
  EXPECT_EQ(o.deletion_timestamp, "2020-03-01T00:05:00Z");
  EXPECT_EQ(o.finalizers,
            (std::vector<std::string>{"kubernetes.io/pvc-protection", "example.com/backup"}));
  ASSERT_EQ(o.owner_references.size(), 1u);
  EXPECT_TRUE(o.owner_references[0].controller);
  EXPECT_EQ(o.owner_references[0].kind, "StatefulSet");
  EXPECT_EQ(o.labels, (Pairs{{"app", "db"}, {"statefulset.kubernetes.io/pod-name", "db-0"}}));

  Json m = ObjectJson(o, 9)["metadata"];
  EXPECT_EQ(m["generation"], 3);
  EXPECT_EQ(m["deletionTimestamp"], "2020-03-01T00:05:00Z");
  EXPECT_EQ(m["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(m["finalizers"].dump(), R"(["kubernetes.io/pvc-protection","example.com/backup"])");

  Json doc = ValueDocument(ReadFixture("pod-deleting.bin"), 9);
  EXPECT_EQ(doc["metadata"]["deletionGracePeriodSeconds"], 30);
  EXPECT_FALSE(doc["metadata"].contains("clusterName"));  // stored as ""
  EXPECT_FALSE(doc["metadata"].contains("selfLink"));     // stored as ""
  EXPECT_TRUE(doc.contains("2"));                         // spec
}

// --- JSON values (custom resources) -----------------------------------------

TEST(JsonValueTest, WidgetCustomResource) {
  std::string value = ReadFixture("widget-cr.json");
  nlohmann::json want = ReadExpectation("widget-cr");
  Object o = DescribeValue(value);
  ASSERT_EQ(o.encoding, Encoding::kJson);
  EXPECT_EQ(o.api_version, want["apiVersion"]);
  EXPECT_EQ(o.kind, want["kind"]);
  EXPECT_EQ(o.name, want["name"]);
  EXPECT_EQ(o.namespace_, want["namespace"]);
  EXPECT_EQ(o.uid, want["uid"]);
  EXPECT_EQ(o.creation_timestamp, want["creationTimestamp"]);
  EXPECT_EQ(o.generation, 1);
  EXPECT_EQ(o.labels, (Pairs{{"app", "frontend"}}));
  EXPECT_EQ(o.annotations, (Pairs{{"bench.cpr.io/owner", "team-19"}}));
  EXPECT_TRUE(o.owner_references.empty());

  Json j = ObjectJson(o, 77);
  EXPECT_EQ(j["metadata"]["resourceVersion"], "77");
  EXPECT_EQ(j["kind"], "Widget");
}

TEST(JsonValueTest, DocumentIsTheStoredJsonWithResourceVersion) {
  std::string value = ReadFixture("widget-cr.json");
  Json doc = ValueDocument(value, 123);
  Json stored = Json::parse(value);
  EXPECT_NE(doc, stored);
  stored["metadata"]["resourceVersion"] = "123";
  EXPECT_EQ(doc, stored);
  // Stored key order is kept; "\u0026" in the stored text is just '&'.
  EXPECT_TRUE(doc.dump().starts_with(
      R"({"apiVersion":"bench.cpr.io/v1","kind":"Widget","metadata":{"annotations":)"));
  EXPECT_EQ(doc["spec"]["config"]["url"], "https://svc.shop.svc:8443/?a=1&b=2");
}

TEST(JsonValueTest, ClusterScopedCustomResource) {
  Object o = DescribeValue(ReadFixture("gadget-cr-cluster.json"));
  ASSERT_EQ(o.encoding, Encoding::kJson);
  EXPECT_EQ(o.api_version, "gadgets.example.com/v1");
  EXPECT_EQ(o.kind, "Gadget");
  EXPECT_EQ(o.name, "big-gadget");
  EXPECT_EQ(o.namespace_, "");
  EXPECT_EQ(o.generation, 2);
}

TEST(JsonValueTest, TypedJsonLikeACrd) {
  // CRDs and APIServices: typed JSON, kind first (§4).
  std::string value =
      R"({"kind":"CustomResourceDefinition","apiVersion":"apiextensions.k8s.io/v1beta1",)"
      R"("metadata":{"name":"widgets.bench.cpr.io","uid":"u-1","generation":4,)"
      R"("creationTimestamp":"2020-01-02T03:04:05Z","deletionTimestamp":"2020-01-03T00:00:00Z",)"
      R"("labels":{"z":"1","a":"2","n":3},"finalizers":["customresourcecleanup.apiextensions.k8s.io",7],)"
      R"("ownerReferences":[{"apiVersion":"v1","kind":"X","name":"x","uid":"ux","controller":true},5]},)"
      R"("spec":{"group":"bench.cpr.io"}})"
      "\n";
  Object o = DescribeValue(value);
  ASSERT_EQ(o.encoding, Encoding::kJson);
  EXPECT_EQ(o.kind, "CustomResourceDefinition");
  EXPECT_EQ(o.api_version, "apiextensions.k8s.io/v1beta1");
  EXPECT_EQ(o.name, "widgets.bench.cpr.io");
  EXPECT_EQ(o.generation, 4);
  EXPECT_EQ(o.deletion_timestamp, "2020-01-03T00:00:00Z");
  EXPECT_EQ(o.labels, (Pairs{{"z", "1"}, {"a", "2"}}));  // stored order; non-strings skipped
  EXPECT_EQ(o.finalizers, std::vector<std::string>{"customresourcecleanup.apiextensions.k8s.io"});
  ASSERT_EQ(o.owner_references.size(), 1u);
  EXPECT_TRUE(o.owner_references[0].controller);
  EXPECT_TRUE(ValueDocument(value, 5).dump().starts_with(R"({"kind":"CustomResourceDefinition",)"));
}

TEST(JsonValueTest, NotQuiteKubernetesJson) {
  EXPECT_EQ(DescribeValue("{}").encoding, Encoding::kJson);
  Object o = DescribeValue(R"({"kind":5,"metadata":"x"})");
  EXPECT_EQ(o.encoding, Encoding::kJson);
  EXPECT_EQ(o.kind, "");
  EXPECT_EQ(o.name, "");
  Json doc = ValueDocument(R"({"metadata":"x"})", 3);
  EXPECT_EQ(doc["metadata"], "x");  // not an object: left alone

  EXPECT_EQ(DescribeValue(R"({"kind":"Pod")").encoding, Encoding::kText);    // truncated
  EXPECT_EQ(DescribeValue("[1,2]").encoding, Encoding::kText);               // not an object
  EXPECT_EQ(DescribeValue("{\"a\":\"\xff\"}").encoding, Encoding::kBinary);  // bad UTF-8
}

TEST(JsonValueTest, DeepNestingIsNotParsed) {
  std::string deep = "{\"a\":" + std::string(600, '[') + std::string(600, ']') + "}";
  EXPECT_EQ(DescribeValue(deep).encoding, Encoding::kText);
  std::string ok = "{\"a\":" + std::string(500, '[') + std::string(500, ']') + "}";
  EXPECT_EQ(DescribeValue(ok).encoding, Encoding::kJson);
  // Brackets inside strings do not count.
  std::string quoted = "{\"a\":\"" + std::string(600, '[') + "\\\"\"}";
  EXPECT_EQ(DescribeValue(quoted).encoding, Encoding::kJson);
}

// --- encrypted values --------------------------------------------------------

TEST(EncryptedValueTest, AescbcSample) {
  nlohmann::json want = ReadExpectation("secret-aescbc");
  std::string value = ReadFixture("secret-aescbc.bin");
  Object o = DescribeValue(value);
  ASSERT_EQ(o.encoding, Encoding::kEncrypted);
  EXPECT_EQ(o.encryption_provider, want["provider"]);
  EXPECT_EQ(o.encryption_key_name, want["key"]);
  EXPECT_EQ(o.kind, "");
  EXPECT_EQ(o.name, "");
  EXPECT_EQ(ObjectJson(o, 5).dump(), R"({"encrypted":{"provider":"aescbc","keyName":"key1"}})");
  EXPECT_EQ(ValueDocument(value, 5).dump(),
            R"({"encrypted":{"provider":"aescbc","keyName":"key1"}})");
}

TEST(EncryptedValueTest, OtherProviders) {
  struct Case {
    std::string file, provider, key;
  } cases[] = {{"configmap-aesgcm.bin", "aesgcm", "gcm-key-2"},
               {"configmap-secretbox.bin", "secretbox", "box1"},
               {"configmap-kms.bin", "kms", "vault-kms"}};
  for (const Case& c : cases) {
    Object o = DescribeValue(ReadFixture(c.file));
    EXPECT_EQ(o.encoding, Encoding::kEncrypted) << c.file;
    EXPECT_EQ(o.encryption_provider, c.provider) << c.file;
    EXPECT_EQ(o.encryption_key_name, c.key) << c.file;
  }
  Object v2 = DescribeValue(std::string("k8s:enc:kms:v2:my-kms:\x0a\x03\x01\x02\x03", 27));
  EXPECT_EQ(v2.encoding, Encoding::kEncrypted);
  EXPECT_EQ(v2.encryption_provider, "kmsv2");
  EXPECT_EQ(v2.encryption_key_name, "my-kms");
}

TEST(EncryptedValueTest, MalformedPrefixesAreNotEncrypted) {
  const std::string body("\x01\xfe\x00", 3);
  EXPECT_EQ(DescribeValue("k8s:enc:").encoding, Encoding::kText);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:v1:").encoding, Encoding::kText);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:v1:" + body).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s:enc:AESCBC:v1:key1:" + body).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:1:key1:" + body).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:v1::" + body).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:v1:ke\ny:" + body).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s:enc:aescbc:v1:" + std::string(300, 'k') + ":" + body).encoding,
            Encoding::kBinary);
  // The shortest well-formed one.
  EXPECT_EQ(DescribeValue("k8s:enc:a:v1:k:").encoding, Encoding::kEncrypted);
}

// --- text and binary -------------------------------------------------------

TEST(PlainValueTest, TextAndBinary) {
  Object rev = DescribeValue("12345");  // compact_rev_key's value
  EXPECT_EQ(rev.encoding, Encoding::kText);
  EXPECT_EQ(ObjectJson(rev, 1).dump(), R"({"encoding":"text"})");
  EXPECT_EQ(ValueDocument("12345", 1), "12345");
  EXPECT_EQ(DescribeValue("").encoding, Encoding::kText);
  EXPECT_EQ(DescribeValue("line 1\nline 2\twith tab\r\n").encoding, Encoding::kText);
  EXPECT_EQ(DescribeValue("h\xc3\xa9llo").encoding, Encoding::kText);

  std::string bin("\x00\x01\xff", 3);
  Object b = DescribeValue(bin);
  EXPECT_EQ(b.encoding, Encoding::kBinary);
  EXPECT_EQ(ObjectJson(b, 1).dump(), R"({"encoding":"binary"})");
  EXPECT_EQ(ValueDocument(bin, 1), "AAH/");
  EXPECT_EQ(DescribeValue("bell\x07").encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue("k8s").encoding, Encoding::kText);
}

TEST(PlainValueTest, EncodingNames) {
  EXPECT_STREQ(EncodingName(Encoding::kProtobuf), "protobuf");
  EXPECT_STREQ(EncodingName(Encoding::kJson), "json");
  EXPECT_STREQ(EncodingName(Encoding::kEncrypted), "encrypted");
  EXPECT_STREQ(EncodingName(Encoding::kText), "text");
  EXPECT_STREQ(EncodingName(Encoding::kBinary), "binary");
}

TEST(PlainValueTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string prefixes[] = {"", kMagic, "k8s:enc:", "{", "k8s:enc:aescbc:v1:k:"};
  for (int round = 0; round < 4000; ++round) {
    const std::string& prefix = prefixes[round % 5];
    std::string value = prefix;
    size_t n = rng() % (round % 3 == 0 ? 8 : 300);
    for (size_t i = 0; i < n; ++i) value += static_cast<char>(rng() % (round % 2 ? 256 : 128));
    Object o = DescribeValue(value);
    if (prefix == "k8s:enc:aescbc:v1:k:") {
      EXPECT_EQ(o.encoding, Encoding::kEncrypted);
    } else if (prefix == kMagic) {
      EXPECT_EQ(o.encoding, Encoding::kBinary);
    } else {
      EXPECT_TRUE(o.encoding == Encoding::kText || o.encoding == Encoding::kBinary);
    }
    EXPECT_NO_THROW(ObjectJson(o, round).dump());
    EXPECT_NO_THROW(ValueDocument(value, round).dump());
  }
}

// --- hand-made protobuf values -------------------------------------------------

TEST(ProtobufValueTest, MinimalEnvelope) {
  Object o = DescribeValue(Envelope("v1", "Namespace", Ld(1, Meta("default", ""))));
  ASSERT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.kind, "Namespace");
  EXPECT_EQ(o.name, "default");
  EXPECT_EQ(o.uid, "uid-1");
  EXPECT_EQ(o.creation_timestamp, "2020-02-10T12:00:00Z");
}

TEST(ProtobufValueTest, EnvelopeMustHaveAllFourFields) {
  std::string raw = Ld(1, Meta("a", "b"));
  std::string type = Ld(1, Ld(1, "v1") + Ld(2, "Pod"));
  EXPECT_EQ(DescribeValue(kMagic + type + Ld(2, raw) + Ld(3, "") + Ld(4, "")).encoding,
            Encoding::kProtobuf);
  EXPECT_EQ(DescribeValue(kMagic + type + Ld(2, raw) + Ld(3, "")).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue(kMagic + type + Ld(2, raw)).encoding, Encoding::kBinary);
  EXPECT_EQ(DescribeValue(kMagic + Ld(2, raw) + Ld(3, "") + Ld(4, "")).encoding, Encoding::kBinary);
  // Unknown envelope fields are skipped; fields may come in any order.
  EXPECT_EQ(DescribeValue(kMagic + Ld(4, "") + Vi(9, 1) + Ld(3, "") + Ld(2, raw) + type).encoding,
            Encoding::kProtobuf);
  // A known field with the wrong wire type is malformed.
  EXPECT_EQ(DescribeValue(kMagic + type + Ld(2, raw) + Vi(3, 0) + Ld(4, "")).encoding,
            Encoding::kBinary);
}

TEST(ProtobufValueTest, MalformedObjectMetaIsBinary) {
  // name as a varint
  std::string meta = Vi(1, 5) + Ld(3, "ns");
  EXPECT_EQ(DescribeValue(Envelope("v1", "Pod", Ld(1, meta))).encoding, Encoding::kBinary);
  // metadata as a varint
  EXPECT_EQ(DescribeValue(Envelope("v1", "Pod", Vi(1, 5))).encoding, Encoding::kBinary);
  // a label entry that is not a message
  std::string bad_label = Meta("a", "b", Ld(11, "\xff\xff"));
  EXPECT_EQ(DescribeValue(Envelope("v1", "Pod", Ld(1, bad_label))).encoding, Encoding::kBinary);
  // raw that is not a message
  EXPECT_EQ(DescribeValue(Envelope("v1", "Pod", "\x0a\x05zz")).encoding, Encoding::kBinary);
  // no metadata at all is fine: nothing to report
  Object o = DescribeValue(Envelope("v1", "Pod", Ld(2, "")));
  EXPECT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.name, "");
}

TEST(ProtobufValueTest, OldWriterWithNanosAndSelfLink) {
  // Pre-2017 values have non-zero nanos and a selfLink (§3.2, §3.3).
  std::string meta = Ld(1, "pi-dqtsw") + Ld(3, "default") + Ld(4, "/api/v1/pods/pi") + Ld(5, "u") +
                     Ld(8, Vi(1, 1500000000) + Vi(2, 123456789)) +
                     Ld(6, "999");  // a stored resourceVersion is ignored
  std::string value = Envelope("v1", "Pod", Ld(1, meta));
  Object o = DescribeValue(value);
  ASSERT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.creation_timestamp, "2017-07-14T02:40:00Z");
  Json doc = ValueDocument(value, 11);
  EXPECT_EQ(doc["metadata"]["selfLink"], "/api/v1/pods/pi");
  EXPECT_EQ(doc["metadata"]["resourceVersion"], "11");
}

TEST(ProtobufValueTest, ZeroAndOddTimes) {
  Object zero = DescribeValue(Envelope("v1", "Pod", Ld(1, Ld(1, "a") + Ld(8, ""))));
  ASSERT_EQ(zero.encoding, Encoding::kProtobuf);
  EXPECT_EQ(zero.creation_timestamp, "");
  EXPECT_TRUE(ObjectJson(zero, 1)["metadata"]["creationTimestamp"].is_null());

  Object far =
      DescribeValue(Envelope("v1", "Pod", Ld(1, Ld(1, "a") + Ld(8, Vi(1, uint64_t{1} << 62)))));
  EXPECT_EQ(far.creation_timestamp, "unix:4611686018427387904");

  // A Time whose seconds is not a varint is malformed.
  EXPECT_EQ(DescribeValue(Envelope("v1", "Pod", Ld(1, Ld(1, "a") + Ld(8, Ld(1, "x"))))).encoding,
            Encoding::kBinary);
}

TEST(ProtobufValueTest, InvalidUtf8BecomesReplacementCharacters) {
  Object o =
      DescribeValue(Envelope("v1",
                             "Po\xff"
                             "d",
                             Ld(1, Ld(1, "na\xc0me") + Ld(11, Ld(1, "k\xfe") + Ld(2, "v")))));
  ASSERT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.kind,
            "Po\xef\xbf\xbd"
            "d");
  EXPECT_EQ(o.name, "na\xef\xbf\xbdme");
  EXPECT_EQ(o.labels, (Pairs{{"k\xef\xbf\xbd", "v"}}));
  EXPECT_NO_THROW(ObjectJson(o, 1).dump());
}

TEST(ProtobufValueTest, NonProtobufContentType) {
  std::string value = Envelope("v1", "Pod", R"({"a":1})", "application/json");
  Object o = DescribeValue(value);
  ASSERT_EQ(o.encoding, Encoding::kProtobuf);
  EXPECT_EQ(o.kind, "Pod");
  EXPECT_EQ(o.name, "");
  Json doc = ValueDocument(value, 2);
  EXPECT_EQ(doc["contentType"], "application/json");
  EXPECT_EQ(doc["raw"], "eyJhIjoxfQ==");
}

TEST(ProtobufValueTest, NewerLayoutWithoutClusterName) {
  // 1.28: no clusterName (field 15), managedFields carry subresource (§3.1).
  Object old_layout = DescribeValue(ReadFixture("configmap.bin"));
  Object new_layout = DescribeValue(ReadFixture("configmap-1.28.bin"));
  ASSERT_EQ(new_layout.encoding, Encoding::kProtobuf);
  EXPECT_EQ(ObjectJson(new_layout, 3), ObjectJson(old_layout, 3));
  EXPECT_EQ(new_layout.name, "frontend-config");
}

// --- ValueDocument of protobuf values -------------------------------------------

TEST(ValueDocumentTest, ConfigMapDataDecodedGenerically) {
  Json doc = ValueDocument(ReadFixture("configmap.bin"), 10);
  EXPECT_EQ(doc["apiVersion"], "v1");
  EXPECT_EQ(doc["kind"], "ConfigMap");
  EXPECT_EQ(doc["metadata"]["name"], "frontend-config");
  // data: map<string,string> entry {1 key, 2 value}
  EXPECT_EQ(doc["2"]["1"], "application.properties");
  EXPECT_EQ(doc["2"]["2"], "server.port=8080\nlogging.level.root=INFO\napp.name=frontend\n");
  const Json& mf = doc["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 1u);
  EXPECT_EQ(mf[0]["manager"], "kubectl");
  EXPECT_EQ(mf[0]["operation"], "Update");
  EXPECT_EQ(mf[0]["apiVersion"], "v1");
  EXPECT_EQ(mf[0]["time"], "2020-02-20T22:31:53Z");
  EXPECT_EQ(mf[0]["fieldsType"], "FieldsV1");
  EXPECT_EQ(mf[0]["fieldsV1"]["f:data"]["f:application.properties"], Json::object());
  EXPECT_FALSE(mf[0].contains("subresource"));
}

TEST(ValueDocumentTest, LeaseSpecWithMicroTime) {
  Json doc = ValueDocument(ReadFixture("lease.bin"), 10);
  EXPECT_EQ(doc["kind"], "Lease");
  const Json& spec = doc["2"];
  EXPECT_EQ(spec["1"], "worker-0.example.internal");  // holderIdentity
  EXPECT_EQ(spec["2"], 40);                           // leaseDurationSeconds
  EXPECT_EQ(spec["4"]["1"], 1583063992);              // renewTime seconds
  EXPECT_EQ(spec["4"]["2"], 630623000);               // and nanos (MicroTime)
}

TEST(ValueDocumentTest, PodHasTwoManagersAndEverySample) {
  Json pod = ValueDocument(ReadFixture("pod.bin"), 10);
  ASSERT_EQ(pod["metadata"]["managedFields"].size(), 2u);
  EXPECT_EQ(pod["metadata"]["managedFields"][1]["manager"], "kubelet");
  EXPECT_TRUE(pod["2"].is_object());  // spec
  EXPECT_TRUE(pod["3"].is_object());  // status
  for (const char* s : {"pod", "configmap", "secret", "node", "lease", "event"}) {
    Json doc = ValueDocument(ReadFixture(std::string(s) + ".bin"), 10);
    EXPECT_EQ(doc["metadata"]["resourceVersion"], "10") << s;
    EXPECT_NO_THROW(doc.dump()) << s;
  }
}

TEST(ValueDocumentTest, GenericDecodeRules) {
  std::string raw = Ld(1, Meta("x", "y")) + Ld(2, "plain text") +  // text
                    Ld(3, Ld(1, "a") + Vi(2, 7)) +                 // a message
                    Ld(4, "two\nlines") +                          // text with a newline
                    Ld(5, std::string("\xff\x00", 2)) +            // bytes
                    Vi(6, uint64_t(-5)) +                          // negative int64
                    Vi(7, 1) + Vi(7, 2) +                          // repeated
                    Ld(8, "");                                     // empty
  Json doc = ValueDocument(Envelope("v1", "Thing", raw), 1);
  EXPECT_EQ(doc["2"], "plain text");
  EXPECT_EQ(doc["3"].dump(), R"({"1":"a","2":7})");
  EXPECT_EQ(doc["4"], "two\nlines");
  EXPECT_EQ(doc["5"].dump(), R"({"bytes":"/wA="})");
  EXPECT_EQ(doc["6"], -5);
  EXPECT_EQ(doc["7"].dump(), "[1,2]");
  EXPECT_EQ(doc["8"], "");
}

TEST(ValueDocumentTest, DeeplyNestedMessagesStopAtALimit) {
  std::string m = Vi(1, 1);
  for (int i = 0; i < 200; ++i) m = Ld(1, m);
  Json doc;
  ASSERT_NO_THROW(doc = ValueDocument(Envelope("v1", "Deep", Ld(1, Meta("x", "")) + Ld(2, m)), 1));
  EXPECT_NO_THROW(doc.dump());
}

// DescribeIdentity must answer exactly as DescribeValue on its fields, for
// values its JSON scanner takes and values it leaves to DescribeValue.
void ExpectSameIdentity(const std::string& value) {
  const Object full = DescribeValue(value);
  const Object id = DescribeIdentity(value);
  EXPECT_EQ(id.encoding, full.encoding) << value;
  EXPECT_EQ(id.api_version, full.api_version) << value;
  EXPECT_EQ(id.kind, full.kind) << value;
  EXPECT_EQ(id.name, full.name) << value;
  EXPECT_EQ(id.namespace_, full.namespace_) << value;
  EXPECT_EQ(id.encryption_provider, full.encryption_provider) << value;
  EXPECT_EQ(id.encryption_key_name, full.encryption_key_name) << value;
}

TEST(DescribeIdentity, AgreesWithDescribeValue) {
  const std::vector<std::string> cases = {
      R"({"apiVersion":"v1","kind":"Widget","metadata":{"name":"w","namespace":"ns"}})",
      R"({"kind":"A","kind":"B","metadata":{"name":"x"},"metadata":{"namespace":"y"}})",
      R"({"kind":"A","kind":7,"metadata":{"name":"x"},"metadata":"flat"})",
      R"({"metadata":{"name":"a","name":null}, "kind" : "K" , "spec":{"n":[1,-2,0.5,true,false,null,{}]}})",
      R"({"kind":"a\"b\\c\/d\n","metadata":{"name":"\t"}})",
      R"({"kind":"\u0041","metadata":{"name":"é"}})",
      R"({"kind":"\u003c\u00E9\u20ac\ud83d\ude00","metadata":{"name":"\u0000"}})",
      R"({"kind":"\ud83d","metadata":{"name":"a"}})",
      R"({"kind":"\ude00x","metadata":{"name":"a"}})",
      R"({"kind":"\ud83d\u0041","metadata":{"name":"a"}})",
      R"({"kind":"\u12G4"})",
      R"({"kind":"\x"})",
      "{\"kind\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
      "{\"kind\":\"\xc0\xaf\"}",
      "{\"kind\":\"\xe0\x80\xaf\"}",
      "{\"kind\":\"\xed\xa0\x80\"}",
      "{\"kind\":\"\xf4\x90\x80\x80\"}",
      "{\"kind\":\"\xf0\x9f\x98\"}",
      "{\"kind\":\"\xc3\"}",
      R"({"kind":"K","n":1e400})",
      R"({"kind":"K","n":1E2})",
      R"({"kind":"K","n":01})",
      R"({"kind":"K","n":-})",
      R"({"kind":"K","n":1.})",
      R"({"kind":"K","n":.5})",
      R"({"kind":"K",})",
      R"({"kind":"K"} x)",
      R"({"kind":"K"}  )",
      R"( {"kind":"K"})",
      R"({"kind":"K","s":"tab	inside"})",
      R"({"kind":"K","a":[1,2,]})",
      R"({"kind":"K","t":tru})",
      R"({})",
      R"({"kind":"K")",
      "{\"kind\":\"K\",\"s\":\"\x7f\"}",
      "{\"kind\":\"K\",\"s\":\"\xff\"}",
      "k8s:enc:aescbc:v1:key1:xxxx",
      "plain text",
      std::string("k8s\0\x0a", 5),
  };
  for (const auto& v : cases) ExpectSameIdentity(v);
  std::string deep = R"({"kind":"K","d":)";
  for (int depth : {510, 511, 512}) {
    std::string v = deep + std::string(depth, '[') + std::string(depth, ']') + "}";
    ExpectSameIdentity(v);
  }
}

TEST(DescribeIdentity, AgreesOnRandomBytesInJson) {
  // Random bytes dropped into a valid document.
  const std::string base =
      R"({"apiVersion":"v1","kind":"W\u00e9","metadata":{"name":"n\ud83d\ude00","namespace":"s"},)"
      "\"spec\":[1,\"x\xc3\xa9\",null]}";
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; i++) {
    std::string v = base;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; k++) v[1 + rng() % (v.size() - 1)] = static_cast<char>(rng() % 128);
    ExpectSameIdentity(v);
  }
}

TEST(DescribeIdentity, AgreesOnEveryFixtureAndItsFlips) {
  // Protobuf values take DescribeValue's path with ObjectMeta checked, not
  // copied: a flipped byte must make both give up alike.
  for (const char* name : {"pod.bin", "node.bin", "pod-deleting.bin", "configmap.bin",
                           "configmap-1.28.bin", "event.bin", "secret-aescbc.bin",
                           "configmap-kms.bin", "widget-cr.json", "gadget-cr-cluster.json"}) {
    const std::string value = ReadFixture(name);
    ExpectSameIdentity(value);
    std::mt19937 rng(11);
    for (int i = 0; i < 400; i++) {
      std::string v = value;
      v[rng() % v.size()] = static_cast<char>(rng() % 256);
      ExpectSameIdentity(v);
    }
  }
}

}  // namespace
}  // namespace cpr::k8s
