// recovery/policy.h: the node policy, rule by rule (issue 11 item 3).
#include <gtest/gtest.h>

#include "pki/csr.h"
#include "pki/kube_pki.h"
#include "pki_testing.h"
#include "recovery/policy.h"
#include "recovery/store.h"

namespace cpr::recovery {
namespace {

constexpr int64_t kNow = 1'800'000'000;

std::string Request(const std::string& cn, const std::vector<std::string>& orgs,
                    std::vector<std::string> dns = {}, std::vector<std::string> ips = {},
                    pki::KeySpec key_spec = {}, pki::PrivateKey* key_out = nullptr) {
  auto key = pki::PrivateKey::Generate(key_spec);
  EXPECT_TRUE(key);
  if (key_out) *key_out = *key;
  pki::CsrSpec spec;
  spec.subject = pki::Name::Of(cn, orgs);
  spec.dns_names = std::move(dns);
  spec.ip_addresses = std::move(ips);
  auto r = pki::CertRequest::Create(*key, spec);
  EXPECT_TRUE(r);
  return r->ToPem();
}

// A node CSR (O=system:nodes) for `cn` with `key`, asking for a CA when `ca`.
std::string RequestWithKey(const pki::PrivateKey& key, const std::string& cn, bool ca = false) {
  pki::CsrSpec spec;
  spec.subject = pki::Name::Of(cn, {"system:nodes"});
  spec.request_ca = ca;
  auto r = pki::CertRequest::Create(key, spec);
  EXPECT_TRUE(r);
  return r ? r->ToPem() : std::string();
}

// With a 1024-bit RSA key, made by openssl (PrivateKey::Generate refuses it).
std::string Rsa1024Request(const std::string& cn) {
  auto pem = testing::Sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024");
  EXPECT_EQ(pem.rc, 0) << pem.out;
  auto key = pki::PrivateKey::FromPem(pem.out, "openssl");
  EXPECT_TRUE(key);
  return key ? RequestWithKey(*key, cn) : std::string();
}

Csr Client(const std::string& node, const std::string& user = "system:bootstrap:tok001") {
  Csr c;
  c.name = "c-" + node;
  c.request = Request("system:node:" + node, {"system:nodes"});
  c.signer_name = pki::kKubeletClientSigner;
  c.usages = {"digital signature", "key encipherment", "client auth"};
  c.username = user;
  c.groups = {"system:bootstrappers", "system:authenticated"};
  c.creation_timestamp = "2026-12-05T01:00:00Z";
  return c;
}

Csr Serving(const std::string& node, std::vector<std::string> dns, std::vector<std::string> ips) {
  Csr c = Client(node, "system:node:" + node);
  c.name = "s-" + node;
  c.request = Request("system:node:" + node, {"system:nodes"}, std::move(dns), std::move(ips));
  c.signer_name = pki::kKubeletServingSigner;
  c.usages = {"digital signature", "key encipherment", "server auth"};
  c.groups = {"system:nodes", "system:authenticated"};
  return c;
}

class NodePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inv = ParseNodeFlags({"w1=10.0.0.1", "w2=10.0.0.2", "w1=fd00::1"});
    ASSERT_TRUE(inv);
    inventory = *inv;
    tokens = {{"tok001", "", "w1", kNow - 10, kNow + 3600},
              {"tok002", "", "w2", kNow - 10, kNow + 3600},
              {"old001", "", "w1", kNow - 7200, kNow - 3600}};
  }
  std::optional<std::string> Why(const Csr& c, const std::vector<Csr>& others = {}) {
    return NodePolicyRefusal(c, inventory, tokens, others, kNow);
  }
  Inventory inventory;
  std::vector<BootstrapToken> tokens;
};

TEST_F(NodePolicy, GoodCsrsPass) {
  EXPECT_EQ(Why(Client("w1")), std::nullopt);
  EXPECT_EQ(Why(Client("w1", "system:node:w1")), std::nullopt);  // renewal
  Csr no_ke = Client("w2", "system:bootstrap:tok002");
  no_ke.usages = {"digital signature", "client auth"};
  EXPECT_EQ(Why(no_ke), std::nullopt);
  EXPECT_EQ(Why(Serving("w1", {"w1"}, {"10.0.0.1", "fd00:0::1"})), std::nullopt);
}

TEST_F(NodePolicy, EachViolationHasItsReason) {
  auto expect = [&](const Csr& c, const std::string& words) {
    auto why = Why(c);
    ASSERT_TRUE(why) << c.name;
    EXPECT_NE(why->find(words), std::string::npos) << *why;
  };
  Csr c = Client("evil");
  expect(c, "does not match a known node");
  c = Client("w1");
  c.request = Request("system:node:w1", {"system:masters"});
  expect(c, "not exactly [system:nodes]");
  c.request = Request("system:node:w1", {"system:nodes", "system:masters"});
  expect(c, "not exactly [system:nodes]");
  c.request = Request("w1", {"system:nodes"});
  expect(c, "does not start with system:node:");
  c.request = Request("system:node:w1", {"system:nodes"}, {"w1"});
  expect(c, "no SANs");
  c = Client("w1");
  c.usages = {"digital signature", "key encipherment", "server auth"};
  expect(c, "usages");
  c.usages = {"digital signature", "key encipherment", "client auth", "client auth"};
  expect(c, "usages");
  c = Client("w1");
  c.request = Rsa1024Request("system:node:w1");
  expect(c, "at least 2048 bits");
  c = Client("w1", "system:bootstrap:tok002");
  expect(c, "bootstrap token of node w2");
  c = Client("w1", "system:bootstrap:old001");
  expect(c, "expired");
  c = Client("w1", "system:bootstrap:nobody");
  expect(c, "no bootstrap token CPR issued");
  c = Client("w1", "alice");
  expect(c, "neither");
  c = Client("w1");
  c.signer_name = "kubernetes.io/kube-apiserver-client";
  expect(c, "not a kubelet signer");
  c = Client("w1");
  c.request = "garbage";
  expect(c, "does not parse");
  expect(Serving("w1", {"evil.example"}, {}), "evil.example");
  expect(Serving("w1", {}, {"10.0.0.2"}), "10.0.0.2");
  expect(Serving("w1", {}, {}), "at least one");
  Csr s = Serving("w1", {"w1"}, {});
  s.username = "system:bootstrap:tok001";
  expect(s, "requested by system:node:w1");
}

TEST_F(NodePolicy, KeyReuse) {
  pki::PrivateKey key = *pki::PrivateKey::Generate({});
  Csr first = Client("w1");
  first.name = "a-first";
  first.request = Request("system:node:w1", {"system:nodes"}, {}, {}, {}, &key);
  Csr second = first;
  second.name = "b-second";
  second.request = RequestWithKey(key, "system:node:w1");
  EXPECT_EQ(Why(first, {first, second}), std::nullopt);  // the earlier one may pass
  auto why = Why(second, {first, second});
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("reused: CSR a-first"), std::string::npos) << *why;
  first.certificate = "issued";
  second.creation_timestamp = "2026-12-05T00:00:00Z";  // even if made earlier, once issued
  EXPECT_TRUE(Why(second, {first, second}));
}

// The operator override waives exactly the identity rules: the node in the
// inventory, the requestor, serving SANs of the node; nothing else.
TEST_F(NodePolicy, OperatorOverrideWaivesOnlyTheIdentityRules) {
  auto full = [&](const Csr& c) { return Why(c); };
  auto overridden = [&](const Csr& c) {
    return NodePolicyRefusal(c, inventory, tokens, {}, kNow, PolicyMode::kOperatorOverride);
  };
  // Waived: each refused by the full policy, passed with the override.
  Csr unknown_boot = Client("replacement");
  Csr unknown_renewal = Client("replacement", "system:node:replacement");
  Csr foreign_token = Client("w1", "system:bootstrap:tok002");
  Csr expired_token = Client("w1", "system:bootstrap:old001");
  Csr no_token = Client("w1", "system:bootstrap:nobody");
  Csr stranger = Client("w1", "alice");
  Csr serving_by_bootstrap = Serving("w1", {"w1"}, {});
  serving_by_bootstrap.username = "system:bootstrap:tok001";
  Csr serving_not_nodes_group = Serving("w1", {"w1"}, {});
  serving_not_nodes_group.groups = {"system:authenticated"};
  Csr serving_foreign_dns = Serving("w1", {"evil.example"}, {});
  Csr serving_foreign_ip = Serving("w1", {}, {"10.0.0.2"});
  Csr serving_unknown_node = Serving("replacement", {"replacement"}, {"10.9.9.9"});
  for (const Csr* c : {&unknown_boot, &unknown_renewal, &foreign_token, &expired_token, &no_token,
                       &stranger, &serving_by_bootstrap, &serving_not_nodes_group,
                       &serving_foreign_dns, &serving_foreign_ip, &serving_unknown_node}) {
    EXPECT_TRUE(full(*c)) << c->name << " " << c->username;
    EXPECT_EQ(overridden(*c), std::nullopt) << c->name << " " << c->username;
  }
  // Kept: refused with the override too, for the same reason as without.
  auto kept = [&](Csr c, const std::string& words) {
    c.username = "alice";  // an identity the override waives, so only `words` can refuse
    auto why = overridden(c);
    ASSERT_TRUE(why) << words;
    EXPECT_NE(why->find(words), std::string::npos) << *why;
  };
  Csr c = Client("replacement");
  c.signer_name = "kubernetes.io/kube-apiserver-client";
  kept(c, "not a kubelet signer");
  c = Client("replacement");
  c.request = "garbage";
  kept(c, "does not parse");
  c.request = Request("system:node:replacement", {"system:masters"});
  kept(c, "not exactly [system:nodes]");
  c.request = Request("replacement", {"system:nodes"});
  kept(c, "does not start with system:node:");
  c.request = Request("system:node:bad_name!", {"system:nodes"});
  kept(c, "not a valid node name");
  c.request = Request("system:node:", {"system:nodes"});
  kept(c, "not a valid node name");
  c = Client("replacement");
  c.usages = {"digital signature", "key encipherment", "server auth"};
  kept(c, "usages");
  c = Client("replacement");
  c.request = RequestWithKey(*pki::PrivateKey::Generate({}), "system:node:replacement", true);
  kept(c, "CA certificate");
  c = Client("replacement");
  c.request = Rsa1024Request("system:node:replacement");
  kept(c, "at least 2048 bits");
  c = Client("replacement");
  c.request = Request("system:node:replacement", {"system:nodes"}, {"replacement"});
  kept(c, "no SANs");
  c.request = Request("system:node:replacement", {"system:nodes"}, {}, {"10.9.9.9"});
  kept(c, "no SANs");
  kept(Serving("replacement", {}, {}), "at least one");
  {
    auto pem = testing::Sh(
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null "
        "-subj /O=system:nodes/CN=system:node:replacement "
        "-addext subjectAltName=DNS:replacement,email:a@example.com 2>/dev/null");
    ASSERT_EQ(pem.rc, 0) << pem.out;
    Csr s = Serving("replacement", {}, {});
    s.request = pem.out;
    kept(s, "email or URI");
  }
  // Key reuse still counts.
  pki::PrivateKey key = *pki::PrivateKey::Generate({});
  Csr first = Client("replacement");
  first.name = "a-first";
  first.request = Request("system:node:replacement", {"system:nodes"}, {}, {}, {}, &key);
  first.certificate = "issued";
  Csr second = Client("replacement");
  second.name = "b-second";
  second.request = RequestWithKey(key, "system:node:replacement");
  auto why = NodePolicyRefusal(second, inventory, tokens, {first, second}, kNow,
                               PolicyMode::kOperatorOverride);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("reused: CSR a-first"), std::string::npos) << *why;
}

TEST(RecoveryInventory, NodeFlags) {
  EXPECT_FALSE(ParseNodeFlags({"w1"}));
  EXPECT_FALSE(ParseNodeFlags({"w1=notanip"}));
  EXPECT_FALSE(ParseNodeFlags({"bad name=10.0.0.1"}));
  auto inv = ParseNodeFlags({"w1=10.0.0.1", "w1=10.0.0.1"});
  ASSERT_TRUE(inv);
  ASSERT_EQ(inv->nodes.size(), 1u);
  EXPECT_EQ(inv->nodes[0].ips.size(), 1u);
}

TEST(RecoveryStore, NamesAreSafeFileNames) {
  EXPECT_TRUE(ValidObjectName("node-csr-AbC_d-9"));
  EXPECT_TRUE(ValidObjectName("csr-8b2zx"));
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "a b", "a%2f"})
    EXPECT_FALSE(ValidObjectName(bad)) << bad;
  EXPECT_FALSE(ValidObjectName(std::string(254, 'a')));
}

}  // namespace
}  // namespace cpr::recovery
