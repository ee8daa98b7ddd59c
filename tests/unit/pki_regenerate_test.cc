#include <gtest/gtest.h>
#include <sys/stat.h>

#include "pki/inventory.h"
#include "pki/regenerate.h"
#include "pki_testing.h"

namespace cpr::pki {
namespace {

using testing::MakeCa;
using testing::MakeLeaf;
using testing::Now;
using testing::ReadAll;
using testing::Sh;
using testing::TempDir;
using testing::WriteAll;
using testing::WritePair;

const RegenerateAction* Find(const RegenerateReport& r, const std::string& suffix) {
  for (const auto& a : r.actions)
    if (a.path.ends_with(suffix)) return &a;
  return nullptr;
}

TEST(Regenerate, ReissuesExpiredLeavesKeepingKeysAndMovesOldFilesAside) {
  TempDir t;
  const int64_t now = Now();
  ::mkdir((t / "pki").c_str(), 0700);
  ::mkdir((t / "pki/m1").c_str(), 0700);
  auto ca = MakeCa("etcd-signer", now - 86400, now + 3650 * 86400);
  WritePair(ca, t / "pki/ca.crt", t / "pki/ca.key");
  auto expired = MakeLeaf(ca, "system:etcd-peer:m1", now - 7200, now - 60);
  WritePair(expired, t / "pki/m1/peer.crt", t / "pki/m1/peer.key");
  auto fresh = MakeLeaf(ca, "system:etcd-server:m1", now - 60, now + 300 * 86400);
  WritePair(fresh, t / "pki/m1/server.crt", t / "pki/m1/server.key");
  // Issued by a CA whose key is not here.
  auto stranger = MakeCa("kube-apiserver-signer", now - 86400, now + 86400);
  WriteAll(t / "pki/m1/other.crt", MakeLeaf(stranger, "other", now - 7200, now - 60).cert.ToPem());
  const std::string key_before = ReadAll(t / "pki/m1/peer.key");
  const std::string server_before = ReadAll(t / "pki/m1/server.crt");
  const std::string other_before = ReadAll(t / "pki/m1/other.crt");

  RegenerateOptions o;
  o.paths = {t / "pki"};
  o.leaf_validity = 90 * 86400;  // beyond the 30d warning window
  o.backup_dir = t / "old";
  auto plan = Regenerate(o, /*dry_run=*/true);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  ASSERT_EQ(plan->actions.size(), 2u);
  EXPECT_EQ(Find(*plan, "peer.crt")->kind, RegenerateKind::kReissue);
  EXPECT_EQ(Find(*plan, "other.crt")->kind, RegenerateKind::kNoIssuerKey);
  // The dry run wrote nothing.
  EXPECT_EQ(ReadAll(t / "pki/m1/peer.crt"), expired.cert.ToPem());
  struct stat st;
  EXPECT_NE(::stat((t / "old").c_str(), &st), 0);

  auto run = Regenerate(o, false);
  ASSERT_TRUE(run.has_value()) << run.error().ToString();
  EXPECT_EQ(run->backup_dir, t / "old");
  auto renewed = ReadCertificates(t / "pki/m1/peer.crt");
  ASSERT_TRUE(renewed.has_value());
  CertInfo n = (*renewed)[0].Info(), old = expired.cert.Info();
  EXPECT_EQ(n.subject.ToString(), old.subject.ToString());
  EXPECT_EQ(n.dns_names, old.dns_names);
  EXPECT_EQ(n.ip_addresses, old.ip_addresses);
  EXPECT_EQ(n.ext_key_usages, old.ext_key_usages);
  EXPECT_NE(n.serial_hex, old.serial_hex);
  EXPECT_GT(n.not_after, now + 89 * 86400);
  EXPECT_EQ(ReadAll(t / "pki/m1/peer.key"), key_before);  // key kept
  EXPECT_EQ(ReadAll(t / "pki/m1/server.crt"), server_before);
  EXPECT_EQ(ReadAll(t / "pki/m1/other.crt"), other_before);  // not touched
  // The old certificate now lives in the backup folder, by its absolute path.
  const std::string moved = t / ("old" + t.path() + "/pki/m1/peer.crt");
  EXPECT_EQ(ReadAll(moved), expired.cert.ToPem());
  EXPECT_EQ(Sh("openssl verify -CAfile " + (t / "pki/ca.crt") + " " + (t / "pki/m1/peer.crt")).rc,
            0);

  // Afterwards only the certificate without a CA key here is still expired.
  CheckOptions c;
  c.paths = {t / "pki"};
  auto check = CheckCertificates(c);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->counts[CertStatus::kExpired], 1);
  EXPECT_EQ(check->counts[CertStatus::kValid], 3);

  // A second run has nothing left it can do.
  o.backup_dir = t / "old2";
  auto again = Regenerate(o, false);
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->actions.size(), 1u);
  EXPECT_EQ(again->actions[0].kind, RegenerateKind::kNoIssuerKey);
}

TEST(Regenerate, RenewsAnExpiredCaWithTheSameKeySoLeavesKeepVerifying) {
  TempDir t;
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 10 * 86400, now - 60);
  WritePair(ca, t / "ca.crt", t / "ca.key");
  auto leaf = MakeLeaf(ca, "system:etcd-peer:m1", now - 86400, now + 100 * 86400);
  WritePair(leaf, t / "peer.crt", t / "peer.key");
  const std::string leaf_before = ReadAll(t / "peer.crt");
  RegenerateOptions o;
  o.paths = {t.path()};
  o.backup_dir = t / "../" + t.path().substr(t.path().find_last_of('/') + 1) + "-old";
  auto r = Regenerate(o, false);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->actions.size(), 1u);
  EXPECT_EQ(r->actions[0].kind, RegenerateKind::kRenewCa);
  auto renewed = ReadCertificates(t / "ca.crt");
  ASSERT_TRUE(renewed.has_value());
  EXPECT_GT((*renewed)[0].Info().not_after, now + 86400);
  EXPECT_EQ((*renewed)[0].PublicKeyDer(), ca.cert.PublicKeyDer());
  EXPECT_EQ(ReadAll(t / "peer.crt"), leaf_before);  // valid leaf left alone
  auto v = Sh("openssl verify -CAfile " + (t / "ca.crt") + " " + (t / "peer.crt"));
  EXPECT_EQ(v.rc, 0) << v.out;
  std::error_code ec;
  std::filesystem::remove_all(o.backup_dir, ec);
}

TEST(Regenerate, RotateCaBundlesOldAndNewAndReissuesLeaves) {
  TempDir t;
  const int64_t now = Now();
  auto ca = MakeCa("etcd-signer", now - 86400, now + 3650 * 86400);
  WritePair(ca, t / "ca.crt", t / "ca.key");
  auto leaf = MakeLeaf(ca, "system:etcd-peer:m1", now - 86400, now + 100 * 86400);
  WritePair(leaf, t / "peer.crt", t / "peer.key");
  RegenerateOptions o;
  o.paths = {t.path()};
  o.rotate_ca = true;
  o.rotate_keys = true;
  o.backup_dir = t.path() + "-rotated";
  auto r = Regenerate(o, false);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(Find(*r, "ca.crt")->kind, RegenerateKind::kRotateCa);
  EXPECT_EQ(Find(*r, "peer.crt")->kind, RegenerateKind::kReissue);
  auto bundle = ReadCertificates(t / "ca.crt");
  ASSERT_TRUE(bundle.has_value());
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_NE((*bundle)[0].PublicKeyDer(), ca.cert.PublicKeyDer());
  EXPECT_EQ((*bundle)[1].ToPem(), ca.cert.ToPem());
  auto new_key = ReadPrivateKey(t / "ca.key");
  ASSERT_TRUE(new_key.has_value());
  EXPECT_TRUE((*bundle)[0].MatchesKey(*new_key));
  auto nl = ReadCertificates(t / "peer.crt");
  auto nk = ReadPrivateKey(t / "peer.key");
  ASSERT_TRUE(nl && nk);
  EXPECT_TRUE((*nl)[0].MatchesKey(*nk));
  EXPECT_FALSE((*nl)[0].MatchesKey(leaf.key));  // --rotate-keys
  EXPECT_TRUE((*nl)[0].IssuedBy((*bundle)[0]));
  // Old and new leaves both verify against the bundle during the switch.
  WriteAll(t.path() + "-rotated/oldleaf.crt", leaf.cert.ToPem());
  EXPECT_EQ(Sh("openssl verify -CAfile " + (t / "ca.crt") + " " + (t / "peer.crt")).rc, 0);
  EXPECT_EQ(
      Sh("openssl verify -CAfile " + (t / "ca.crt") + " " + t.path() + "-rotated/oldleaf.crt").rc,
      0);
  std::error_code ec;
  std::filesystem::remove_all(o.backup_dir, ec);
}

}  // namespace
}  // namespace cpr::pki
