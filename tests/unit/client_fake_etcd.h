// An in-process fake etcd (gRPC server on 127.0.0.1, a free port) for unit
// tests of the client and the backup procedure: it serves a snapshot file
// through Maintenance.Snapshot the way etcd 3.4 does (32 KiB chunks with
// remaining_bytes, then the SHA-256 of the db as a last 32-byte message),
// and can break the stream on purpose: cut it, stall it, end it early, send
// a wrong trailer. Status, MemberList, Range (health) and HashKV answer
// with fixed values.
#pragma once

#include <grpcpp/grpcpp.h>
#include <openssl/sha.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "client/proto/rpc.grpc.pb.h"

namespace cpr::testing {

namespace pb = etcdserverpb;

struct FakeEtcdOptions {
  std::string snapshot_db;       // the db bytes to serve (no trailer)
  uint64_t cut_after = 0;        // >0: fail the stream (UNAVAILABLE) after this many bytes
  uint64_t end_early_after = 0;  // >0: end the stream OK after this many bytes
  uint64_t stall_after = 0;      // >0: stop sending (sleep stall_ms) after this many bytes
  int stall_ms = 0;
  bool bad_trailer = false;  // send a wrong SHA-256
  uint32_t hash_kv = 0xC0FFEE;
  int64_t hash_kv_compact_revision = 4;  // what HashKV says the member compacted at
  uint64_t member_id = 0x1234abcd, cluster_id = 0xfeedbeef;
};

class FakeEtcd final : public pb::Maintenance::Service,
                       public pb::Cluster::Service,
                       public pb::KV::Service {
 public:
  explicit FakeEtcd(FakeEtcdOptions o) : o_(std::move(o)) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(static_cast<pb::Maintenance::Service*>(this));
    b.RegisterService(static_cast<pb::Cluster::Service*>(this));
    b.RegisterService(static_cast<pb::KV::Service*>(this));
    server_ = b.BuildAndStart();
  }
  ~FakeEtcd() override { server_->Shutdown(std::chrono::system_clock::now()); }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> snapshots{0}, hashkv_revision{0};

  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest*,
                      pb::StatusResponse* r) override {
    Header(r->mutable_header());
    r->set_version("3.4.23");
    r->set_dbsize(static_cast<int64_t>(o_.snapshot_db.size()));
    r->set_leader(o_.member_id);
    r->set_raftindex(42);
    r->set_raftterm(7);
    r->set_raftappliedindex(42);
    return grpc::Status::OK;
  }
  grpc::Status MemberList(grpc::ServerContext*, const pb::MemberListRequest*,
                          pb::MemberListResponse* r) override {
    Header(r->mutable_header());
    pb::Member* m = r->add_members();
    m->set_id(o_.member_id);
    m->set_name("fake0");
    m->add_peerurls("http://127.0.0.1:1");
    m->add_clienturls("http://" + endpoint());
    return grpc::Status::OK;
  }
  grpc::Status Range(grpc::ServerContext*, const pb::RangeRequest*, pb::RangeResponse* r) override {
    Header(r->mutable_header());
    return grpc::Status::OK;
  }
  grpc::Status HashKV(grpc::ServerContext*, const pb::HashKVRequest* req,
                      pb::HashKVResponse* r) override {
    hashkv_revision = static_cast<int>(req->revision());
    Header(r->mutable_header());
    r->set_hash(o_.hash_kv);
    r->set_compact_revision(o_.hash_kv_compact_revision);
    return grpc::Status::OK;
  }
  grpc::Status Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest*,
                        grpc::ServerWriter<pb::SnapshotResponse>* w) override {
    snapshots++;
    const std::string& db = o_.snapshot_db;
    uint64_t sent = 0;
    while (sent < db.size()) {
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      if (o_.cut_after && sent >= o_.cut_after)
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: member went away");
      if (o_.end_early_after && sent >= o_.end_early_after) return grpc::Status::OK;
      if (o_.stall_after && sent >= o_.stall_after) {
        for (int i = 0; i < o_.stall_ms / 10 && !ctx->IsCancelled(); i++)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return grpc::Status::CANCELLED;
      }
      const size_t n = std::min<size_t>(32 * 1024, db.size() - sent);
      pb::SnapshotResponse r;
      r.set_remaining_bytes(db.size() - sent - n);
      r.set_blob(db.substr(sent, n));
      if (!w->Write(r)) return grpc::Status::CANCELLED;
      sent += n;
    }
    unsigned char sha[32];
    SHA256(reinterpret_cast<const unsigned char*>(db.data()), db.size(), sha);
    if (o_.bad_trailer) sha[0] ^= 1;
    pb::SnapshotResponse last;
    last.set_blob(std::string(reinterpret_cast<char*>(sha), 32));
    w->Write(last);
    return grpc::Status::OK;
  }

  // The db part of a snapshot file (its size minus the 32-byte trailer).
  static std::string DbOf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    std::string all = s.str();
    return all.substr(0, all.size() - 32);
  }

 private:
  void Header(pb::ResponseHeader* h) const {
    h->set_cluster_id(o_.cluster_id);
    h->set_member_id(o_.member_id);
    h->set_revision(10);
    h->set_raft_term(7);
  }
  FakeEtcdOptions o_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace cpr::testing
