// etcdctl 3.4's output for the live commands: JSON exactly as etcdctl's
// `-w json` (Go's encoding/json of the gogoproto structs: proto field names,
// zero values omitted, 64-bit IDs as decimal numbers, bytes as base64), and
// the rows of its tables and `simple` lines.
#pragma once

#include <string>
#include <vector>

#include "cli/output.h"
#include "client/types.h"

namespace cpr::cli {

Json HeaderJson(const client::Header& h);
Json MemberJson(const client::Member& m);
Json MembersJson(const client::Header& h, const std::vector<client::Member>& members);
Json KeyValueJson(const client::KeyValue& kv);
Json RangeJson(const client::RangeResponse& r);
Json PutJson(const client::PutResponse& r);
Json DeleteRangeJson(const client::DeleteRangeResponse& r);
Json TxnJson(const client::TxnResponse& r);
Json StatusJson(const client::StatusResponse& s);
Json HashKVJson(const client::HashKVResponse& h);
Json AlarmJson(const client::AlarmResponse& a);

// Member IDs and the like as etcdctl prints them in tables: %x.
std::string Hex(uint64_t id);
// "%16x" as in "Member %16x added to cluster %16x": right-aligned, spaces.
std::string Hex16(uint64_t id);

// etcdctl's member list table rows: ID, STATUS, NAME, PEER ADDRS,
// CLIENT ADDRS, IS LEARNER.
std::vector<std::string> MemberListHeader();
std::vector<std::string> MemberListRow(const client::Member& m);

// Prints lines as `simple` (", "-joined) or as a table, per format.
void PrintRows(std::ostream& out, bool simple, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

// A key or value as etcdctl's simple output prints it: as is, or with
// --hex every byte as \xNN.
std::string KvText(const std::string& bytes, bool hex);

// etcdctl's simple form of one key-value: key line, value line.
void PrintKvSimple(std::ostream& out, const client::KeyValue& kv, bool hex);

}  // namespace cpr::cli
