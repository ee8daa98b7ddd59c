// Client against an in-process fake etcd (client_fake_etcd.h) and against
// addresses where nothing listens: streams, timeouts, failover, TLS files.
#include "client/client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "client_fake_etcd.h"
#include "util/hash.h"

namespace cpr::client {
namespace {

using testing::FakeEtcd;
using testing::FakeEtcdOptions;

const std::string kSnapB = std::string(CPR_FIXTURES) + "/etcd-formats/snapB.db";

// A port on 127.0.0.1 where nothing listens (bound, then closed).
int DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::unique_ptr<Client> Make(const std::string& endpoints, int command_ms = 3000) {
  Config c;
  c.endpoints = *ParseEndpoints(endpoints, "--endpoints");
  c.dial_timeout = std::chrono::seconds(2);
  c.command_timeout = std::chrono::milliseconds(command_ms);
  auto r = Client::Create(c);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().ToString());
  return std::move(r).value();
}

struct Received {
  std::string bytes;
  uint64_t db_size = 0;
};

Result<Client::SnapshotInfo> Stream(Client& c, const std::string& ep, Received* got,
                                    const std::atomic<bool>* cancel = nullptr) {
  return c.Snapshot(
      ep,
      [&](Bytes chunk, uint64_t db_size) -> Result<void> {
        got->bytes.append(chunk);
        got->db_size = db_size;
        return {};
      },
      cancel);
}

// clientv3's GetPrefixRangeEnd, as etcdctl get --prefix uses it.
TEST(PrefixEnd, RaisesTheLastByteBelow0xff) {
  EXPECT_EQ(client::PrefixEnd("/registry/minions/"), "/registry/minions0");
  EXPECT_EQ(client::PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(client::PrefixEnd(std::string("\xff\xff")), std::string(1, '\0'));
  EXPECT_EQ(client::PrefixEnd(""), std::string(1, '\0'));
}

TEST(ClientSnapshot, StreamsDbThenEtcdsSha256) {
  FakeEtcdOptions o;
  o.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint());
  Received got;
  auto r = Stream(*c, fake.endpoint(), &got);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->db_size, o.snapshot_db.size());
  EXPECT_EQ(r->bytes, o.snapshot_db.size() + 32);
  EXPECT_EQ(got.db_size, o.snapshot_db.size());
  ASSERT_EQ(got.bytes.size(), o.snapshot_db.size() + 32);
  EXPECT_EQ(got.bytes.substr(0, o.snapshot_db.size()), o.snapshot_db);
  const Sha256Digest d = Sha256Of(o.snapshot_db);
  EXPECT_EQ(got.bytes.substr(o.snapshot_db.size()), std::string(d.begin(), d.end()));
}

TEST(ClientSnapshot, CutStreamIsAnErrorNamingTheEndpointAndBytes) {
  FakeEtcdOptions o;
  o.snapshot_db = FakeEtcd::DbOf(kSnapB);
  o.cut_after = 100 * 1024;
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint());
  Received got;
  auto r = Stream(*c, fake.endpoint(), &got);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().where, "endpoint " + fake.endpoint());
  EXPECT_NE(r.error().what.find("member went away"), std::string::npos) << r.error().ToString();
  EXPECT_NE(r.error().what.find("stream cut after"), std::string::npos) << r.error().ToString();
}

TEST(ClientSnapshot, StreamEndingEarlyIsAnError) {
  FakeEtcdOptions o;
  o.snapshot_db = FakeEtcd::DbOf(kSnapB);
  o.end_early_after = 64 * 1024;
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint());
  Received got;
  auto r = Stream(*c, fake.endpoint(), &got);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("stream ended after 65536 bytes"), std::string::npos)
      << r.error().ToString();
}

TEST(ClientSnapshot, StalledStreamTimesOutAfterCommandTimeout) {
  FakeEtcdOptions o;
  o.snapshot_db = FakeEtcd::DbOf(kSnapB);
  o.stall_after = 32 * 1024;
  o.stall_ms = 10000;
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint(), 500);
  Received got;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Stream(*c, fake.endpoint(), &got);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("no data for 500ms (--command-timeout)"), std::string::npos)
      << r.error().ToString();
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(ClientSnapshot, SinkErrorAndCancelStopTheStream) {
  FakeEtcdOptions o;
  o.snapshot_db = FakeEtcd::DbOf(kSnapB);
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint());
  int calls = 0;
  auto r = c->Snapshot(fake.endpoint(), [&](Bytes, uint64_t) -> Result<void> {
    if (++calls == 2) return MakeError(Code::kIo, "disk", "full");
    return {};
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().where, "disk");
  EXPECT_EQ(calls, 2);

  std::atomic<bool> cancel{true};
  Received got;
  auto r2 = Stream(*c, fake.endpoint(), &got, &cancel);
  ASSERT_FALSE(r2.has_value());
}

TEST(ClientCalls, UnaryCallsDecodeTheAnswer) {
  FakeEtcdOptions o;
  o.snapshot_db = "x";
  FakeEtcd fake(o);
  auto c = Make(fake.endpoint());
  auto st = c->Status(fake.endpoint());
  ASSERT_TRUE(st.has_value()) << st.error().ToString();
  EXPECT_EQ(st->version, "3.4.23");
  EXPECT_EQ(st->leader, o.member_id);
  EXPECT_EQ(st->header.cluster_id, o.cluster_id);
  EXPECT_EQ(st->raft_term, 7u);
  auto ml = c->MemberList();
  ASSERT_TRUE(ml.has_value());
  ASSERT_EQ(ml->members.size(), 1u);
  EXPECT_EQ(ml->members[0].name, "fake0");
  auto hk = c->HashKV(fake.endpoint(), 9);
  ASSERT_TRUE(hk.has_value());
  EXPECT_EQ(hk->hash, o.hash_kv);
  EXPECT_EQ(fake.hashkv_revision.load(), 9);
  EXPECT_TRUE(c->Health(fake.endpoint()).has_value());
}

TEST(ClientCalls, FailoverSkipsADeadEndpointForReads) {
  FakeEtcdOptions o;
  o.snapshot_db = "x";
  FakeEtcd fake(o);
  const std::string dead = "127.0.0.1:" + std::to_string(DeadPort());
  auto c = Make(dead + "," + fake.endpoint());
  auto ml = c->MemberList();
  ASSERT_TRUE(ml.has_value()) << ml.error().ToString();
  EXPECT_EQ(ml->members.size(), 1u);
}

TEST(ClientCalls, AllEndpointsDeadNamesEach) {
  const std::string a = "127.0.0.1:" + std::to_string(DeadPort());
  const std::string b = "127.0.0.1:" + std::to_string(DeadPort());
  auto c = Make(a + "," + b);
  const auto t0 = std::chrono::steady_clock::now();
  auto ml = c->MemberList();
  ASSERT_FALSE(ml.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(ml.error().code, Code::kUnavailable);
  // One line: both endpoints named once, with what they share said once.
  EXPECT_EQ(ml.error().what,
            "MemberList: no endpoint answered: " + a + ", " + b + ": connection refused")
      << ml.error().ToString();
}

TEST(ClientCalls, WritesFailOverOnlyWhenNotSent) {
  // A write to a dead endpoint was never sent: the next endpoint gets it.
  FakeEtcdOptions o;
  o.snapshot_db = "x";
  FakeEtcd fake(o);
  const std::string dead = "127.0.0.1:" + std::to_string(DeadPort());
  auto c = Make(dead + "," + fake.endpoint());
  // The fake has no Cluster.MemberAdd: UNIMPLEMENTED from the live endpoint
  // is etcd's answer, not a transport failure, so it is returned as is.
  auto r = c->MemberAdd({"http://127.0.0.1:9"}, true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().where, "endpoint " + fake.endpoint()) << r.error().ToString();
}

TEST(ClientCreate, ChecksConfigAndTlsFiles) {
  Config c;
  EXPECT_EQ(Client::Create(c).error().where, "--endpoints");
  c.endpoints = *ParseEndpoints("127.0.0.1:2379", "x");
  c.dial_timeout = std::chrono::seconds(0);
  EXPECT_EQ(Client::Create(c).error().where, "--dial-timeout");
  c.dial_timeout = std::chrono::seconds(1);
  c.tls.cacert = "/nonexistent/ca.crt";
  auto r = Client::Create(c);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().where, "--cacert");
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  c.tls.cacert = kSnapB;  // a file, but not PEM
  EXPECT_NE(Client::Create(c).error().what.find("no PEM certificate"), std::string::npos);
  c.tls.cacert.clear();
  c.tls.cert = "client.crt";  // without --key
  EXPECT_EQ(Client::Create(c).error().where, "--cert");
}

}  // namespace
}  // namespace cpr::client
