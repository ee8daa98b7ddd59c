// The `.snap` file a restored member boots from (etcd-formats.md §5.6):
// snappb.snapshot{crc, data = raftpb.Snapshot{v2 store JSON, metadata}}.
#pragma once

#include <string>

#include "etcd/membership.h"

namespace cpr::etcd {

// The v2 store JSON holding only the members' raftAttributes (§5.6.2).
std::string V2StoreJson(const Membership& m);

// The whole .snap file, byte-identical to etcdctl 3.4's for the same flags.
std::string RestoreSnapFile(const Membership& m);

// "0000000000000001-<N as 16 hex>.snap" (§5.6.1).
std::string RestoreSnapFileName(const Membership& m);

}  // namespace cpr::etcd
