// `cpr kv get|put|del|txn`: keys of a live cluster, as etcdctl 3.4's get,
// put, del and txn (same flags for the common cases, same simple and JSON
// output). For the operator's repairs around a recovery (a stale
// /registry/masterleases/ key, a guarded update); backups never write.
//
// txn reads etcdctl's non-interactive syntax from stdin: compares, a blank
// line, success requests, a blank line, failure requests. A compare is
// `TARGET("key") OP "value"` with TARGET ver|version|c|create|m|mod|
// val|value|lease and OP = != < >; a request is `get|put|del` with
// arguments as on the command line (quoted with "..." or '...').
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iostream>
#include <iterator>

#include "cli/client_flags.h"
#include "cli/command.h"
#include "cli/live_output.h"

namespace cpr::cli {
namespace {

struct Flags {
  ClientFlags client;
  std::vector<std::string> args;
  bool prefix = false, from_key = false, keys_only = false, count_only = false, prev_kv = false;
  bool print_value_only = false;
  int64_t rev = 0, limit = 0;
  std::string lease = "0";
  std::string consistency = "l";
  std::string sort_by, order;  // etcdctl's --sort-by and --order, any case
};

// key, range_end from KEY [RANGE_END] and --prefix/--from-key.
Result<std::pair<std::string, std::string>> KeyRange(const Flags& f, const char* cmd) {
  if (f.args.empty() || f.args.size() > 2)
    return MakeError(Code::kInvalidArgument, cmd,
                     "needs one argument as key and an optional argument as range_end");
  if (f.prefix && f.from_key)
    return MakeError(Code::kInvalidArgument, "--prefix",
                     "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  if (f.args.size() == 2 && (f.prefix || f.from_key))
    return MakeError(Code::kInvalidArgument, cmd,
                     "too many arguments, only accept one argument when `--prefix` or "
                     "`--from-key` is set");
  std::string key = f.args[0], end = f.args.size() == 2 ? f.args[1] : "";
  if (f.prefix) {
    if (key.empty()) {
      key = std::string(1, '\0');
      end = std::string(1, '\0');
    } else {
      end = client::PrefixEnd(key);
    }
  }
  if (f.from_key) {
    if (key.empty()) key = std::string(1, '\0');
    end = std::string(1, '\0');
  }
  return std::pair{key, end};
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// etcdctl get's --order and --sort-by: etcd sorts (before --limit); a
// target without an order sorts ascending, an order without a target sorts
// by key.
Result<void> SetSort(const Flags& f, client::RangeRequest* r) {
  using Order = client::RangeRequest::SortOrder;
  using Target = client::RangeRequest::SortTarget;
  static const std::pair<const char*, Order> kOrders[] = {
      {"", Order::kNone}, {"ASCEND", Order::kAscend}, {"DESCEND", Order::kDescend}};
  static const std::pair<const char*, Target> kTargets[] = {
      {"", Target::kKey},       {"CREATE", Target::kCreate}, {"KEY", Target::kKey},
      {"MODIFY", Target::kMod}, {"VALUE", Target::kValue},   {"VERSION", Target::kVersion}};
  auto order = std::find_if(std::begin(kOrders), std::end(kOrders),
                            [&](const auto& o) { return Upper(f.order) == o.first; });
  if (order == std::end(kOrders))
    return MakeError(Code::kInvalidArgument, "--order", "bad sort order " + f.order,
                     "ASCEND or DESCEND");
  auto target = std::find_if(std::begin(kTargets), std::end(kTargets),
                             [&](const auto& t) { return Upper(f.sort_by) == t.first; });
  if (target == std::end(kTargets))
    return MakeError(Code::kInvalidArgument, "--sort-by", "bad sort target " + f.sort_by,
                     "CREATE, KEY, MODIFY, VALUE or VERSION");
  r->sort_order = order->second;
  r->sort_target = target->second;
  // clientv3's WithSort: keys ascending is etcd's own order, asked as none.
  if (r->sort_target == Target::kKey && r->sort_order == Order::kAscend)
    r->sort_order = Order::kNone;
  return {};
}

Result<client::RangeRequest> GetRequest(const Flags& f) {
  auto [key, end] = CPR_TRY(KeyRange(f, "get"));
  if (f.consistency != "l" && f.consistency != "s")
    return MakeError(Code::kInvalidArgument, "--consistency",
                     fmt::format("unknown consistency flag '{}'", f.consistency), "l or s");
  client::RangeRequest r;
  r.key = key;
  r.range_end = end;
  r.limit = f.limit;
  r.revision = f.rev;
  r.keys_only = f.keys_only;
  r.count_only = f.count_only;
  r.serializable = f.consistency == "s";
  CPR_RETURN_IF_ERROR(SetSort(f, &r));
  return r;
}

Result<client::PutRequest> PutRequestOf(const Flags& f, bool stdin_ok) {
  if (f.args.empty() || f.args.size() > 2)
    return MakeError(Code::kInvalidArgument, "put",
                     "put command needs 1 argument and input from stdin or 2 arguments");
  client::PutRequest r;
  r.key = f.args[0];
  if (f.args.size() == 2) {
    r.value = f.args[1];
  } else if (stdin_ok) {
    r.value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (r.value.empty())
      return MakeError(Code::kInvalidArgument, "put",
                       "put command needs 1 argument and input from stdin or 2 arguments");
  } else {
    return MakeError(Code::kInvalidArgument, "put", "needs a key and a value");
  }
  int64_t lease = 0;
  auto [p, ec] = std::from_chars(f.lease.data(), f.lease.data() + f.lease.size(), lease, 16);
  if (ec != std::errc() || p != f.lease.data() + f.lease.size())
    return MakeError(Code::kInvalidArgument, "--lease",
                     fmt::format("bad lease ID '{}', expecting ID in hex", f.lease));
  r.lease = lease;
  r.prev_kv = f.prev_kv;
  return r;
}

Result<client::DeleteRangeRequest> DelRequest(const Flags& f) {
  auto [key, end] = CPR_TRY(KeyRange(f, "del"));
  client::DeleteRangeRequest r;
  r.key = key;
  r.range_end = end;
  r.prev_kv = f.prev_kv;
  return r;
}

void PrintDoc(LiveFormat format, const Json& doc) {
  if (format == LiveFormat::kYaml)
    PrintYaml(std::cout, doc);
  else
    PrintJson(std::cout, doc);
}

bool Structured(LiveFormat f) { return f == LiveFormat::kJson || f == LiveFormat::kYaml; }

void PrintGet(const client::RangeResponse& r, bool value_only, bool hex) {
  for (const auto& kv : r.kvs) {
    if (!value_only) std::cout << KvText(kv.key, hex) << '\n';
    std::cout << KvText(kv.value, hex) << '\n';
  }
}
void PrintPut(const client::PutResponse& r, bool hex) {
  std::cout << "OK\n";
  if (r.prev_kv) PrintKvSimple(std::cout, *r.prev_kv, hex);
}
void PrintDel(const client::DeleteRangeResponse& r, bool hex) {
  std::cout << r.deleted << '\n';
  for (const auto& kv : r.prev_kvs) PrintKvSimple(std::cout, kv, hex);
}

Result<void> RunGet(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  const client::RangeRequest req = CPR_TRY(GetRequest(f));
  auto client = CPR_TRY(MakeClient(f.client));
  client::RangeResponse r = CPR_TRY(client->Range(req));
  if (Structured(format))
    PrintDoc(format, RangeJson(r));
  else
    PrintGet(r, f.print_value_only, f.client.hex);
  return {};
}

Result<void> RunPut(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  const client::PutRequest req = CPR_TRY(PutRequestOf(f, true));
  auto client = CPR_TRY(MakeClient(f.client));
  client::PutResponse r = CPR_TRY(client->Put(req));
  if (Structured(format))
    PrintDoc(format, PutJson(r));
  else
    PrintPut(r, f.client.hex);
  return {};
}

Result<void> RunDel(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  const client::DeleteRangeRequest req = CPR_TRY(DelRequest(f));
  auto client = CPR_TRY(MakeClient(f.client));
  client::DeleteRangeResponse r = CPR_TRY(client->DeleteRange(req));
  if (Structured(format))
    PrintDoc(format, DeleteRangeJson(r));
  else
    PrintDel(r, f.client.hex);
  return {};
}

// ---- txn --------------------------------------------------------------------

// A Go-style quoted string at `s` (after spaces): "..." with \" \\ \n \t
// \r \xNN escapes. Advances `s` past it.
std::optional<std::string> Unquote(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty() || s.front() != '"') return std::nullopt;
  std::string out;
  size_t i = 1;
  for (; i < s.size() && s[i] != '"'; i++) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    switch (s[i]) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'x': {
        if (i + 2 >= s.size()) return std::nullopt;
        unsigned v = 0;
        auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (ec != std::errc() || p != s.data() + i + 3) return std::nullopt;
        out.push_back(static_cast<char>(v));
        i += 2;
        break;
      }
      default:
        out.push_back(s[i]);
    }
  }
  if (i >= s.size()) return std::nullopt;
  s.remove_prefix(i + 1);
  return out;
}

Result<client::Compare> ParseCompare(const std::string& line) {
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "txn",
                     fmt::format("malformed comparison: {} ({})", line, why));
  };
  const size_t lp = line.find('(');
  if (lp == std::string::npos) return bad("no '('");
  const std::string target = line.substr(0, lp);
  std::string_view rest = std::string_view(line).substr(lp + 1);
  auto key = Unquote(rest);
  if (!key || rest.empty() || rest.front() != ')') return bad("expected (\"key\")");
  rest.remove_prefix(1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return bad("expected an operator and a value");
  const std::string op(rest.substr(0, sp));
  rest.remove_prefix(sp);
  auto value = Unquote(rest);
  if (!value) return bad("expected a quoted value");
  client::Compare c;
  c.key = *key;
  if (op == "=" || op == "==")
    c.result = client::Compare::Result::kEqual;
  else if (op == "!=")
    c.result = client::Compare::Result::kNotEqual;
  else if (op == "<")
    c.result = client::Compare::Result::kLess;
  else if (op == ">")
    c.result = client::Compare::Result::kGreater;
  else
    return bad("unknown operator " + op);
  using T = client::Compare::Target;
  if (target == "ver" || target == "version")
    c.target = T::kVersion;
  else if (target == "c" || target == "create")
    c.target = T::kCreate;
  else if (target == "m" || target == "mod")
    c.target = T::kMod;
  else if (target == "val" || target == "value")
    c.target = T::kValue;
  else if (target == "lease")
    c.target = T::kLease;
  else
    return bad("unknown target " + target);
  if (c.target == T::kValue) {
    c.value = *value;
  } else {
    auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), c.number,
                                   c.target == T::kLease ? 16 : 10);
    if (ec != std::errc() || p != value->data() + value->size())
      return bad("not a number: " + *value);
  }
  return c;
}

// etcdctl's argify: "double quoted", 'single quoted' or bare words.
Result<std::vector<std::string>> Argify(const std::string& line) {
  std::vector<std::string> out;
  std::string_view s = line;
  while (true) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    if (s.empty()) break;
    if (s.front() == '"') {
      auto v = Unquote(s);
      if (!v) return MakeError(Code::kInvalidArgument, "txn", "unterminated quote in: " + line);
      out.push_back(*v);
    } else if (s.front() == '\'') {
      const size_t end = s.find('\'', 1);
      if (end == std::string_view::npos)
        return MakeError(Code::kInvalidArgument, "txn", "unterminated quote in: " + line);
      out.emplace_back(s.substr(1, end - 1));
      s.remove_prefix(end + 1);
    } else {
      size_t end = 0;
      while (end < s.size() && s[end] != ' ' && s[end] != '\t') end++;
      out.emplace_back(s.substr(0, end));
      s.remove_prefix(end);
    }
  }
  return out;
}

Result<client::RequestOp> ParseOp(const std::string& line) {
  std::vector<std::string> args = CPR_TRY(Argify(line));
  if (args.size() < 2)
    return MakeError(Code::kInvalidArgument, "txn", "invalid txn request: " + line);
  Flags f;
  for (size_t i = 1; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "--prefix")
      f.prefix = true;
    else if (a == "--from-key")
      f.from_key = true;
    else if (a == "--prev-kv")
      f.prev_kv = true;
    else if (a == "--keys-only")
      f.keys_only = true;
    else if (a == "--count-only")
      f.count_only = true;
    else if (a.rfind("--limit=", 0) == 0)
      f.limit = std::stoll(a.substr(8));
    else if (a.rfind("--rev=", 0) == 0)
      f.rev = std::stoll(a.substr(6));
    else if (a.rfind("--lease=", 0) == 0)
      f.lease = a.substr(8);
    else if (a.rfind("--", 0) == 0)
      return MakeError(Code::kInvalidArgument, "txn", "unsupported option " + a + " in: " + line);
    else
      f.args.push_back(a);
  }
  if (args[0] == "get") return client::RequestOp(CPR_TRY(GetRequest(f)));
  if (args[0] == "put") return client::RequestOp(CPR_TRY(PutRequestOf(f, false)));
  if (args[0] == "del") return client::RequestOp(CPR_TRY(DelRequest(f)));
  return MakeError(Code::kInvalidArgument, "txn", "invalid txn request (get, put, del): " + line);
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

Result<client::TxnRequest> ReadTxn(std::istream& in) {
  client::TxnRequest t;
  int section = 0;
  std::string line;
  while (section < 3 && std::getline(in, line)) {
    line = Trim(line);
    if (line.empty()) {
      section++;
      continue;
    }
    if (section == 0)
      t.compare.push_back(CPR_TRY(ParseCompare(line)));
    else if (section == 1)
      t.success.push_back(CPR_TRY(ParseOp(line)));
    else
      t.failure.push_back(CPR_TRY(ParseOp(line)));
  }
  return t;
}

Result<void> RunTxn(const Flags& f) {
  const LiveFormat format = CPR_TRY(LiveFormatFrom(f.client));
  const client::TxnRequest req = CPR_TRY(ReadTxn(std::cin));
  auto client = CPR_TRY(MakeClient(f.client));
  client::TxnResponse r = CPR_TRY(client->Txn(req));
  if (Structured(format)) {
    PrintDoc(format, TxnJson(r));
    return {};
  }
  std::cout << (r.succeeded ? "SUCCESS" : "FAILURE") << '\n';
  for (const auto& op : r.responses) {
    std::cout << '\n';
    const bool hex = f.client.hex;
    if (const auto* g = std::get_if<client::RangeResponse>(&op)) PrintGet(*g, false, hex);
    if (const auto* p = std::get_if<client::PutResponse>(&op)) PrintPut(*p, hex);
    if (const auto* d = std::get_if<client::DeleteRangeResponse>(&op)) PrintDel(*d, hex);
  }
  return {};
}

}  // namespace

void AddKvCommand(CLI::App& app, RunState& state) {
  CLI::App* kv = app.add_subcommand("kv", "Keys of a live cluster (as etcdctl get/put/del/txn)");
  kv->require_subcommand(1);
  // One Flags per subcommand (see cmd_member.cc).
  auto leaf = [&](const char* name, const char* help, Result<void> (*fn)(const Flags&)) {
    auto f = std::make_shared<Flags>();
    CLI::App* c = kv->add_subcommand(name, help);
    c->callback([&state, f, fn] {
      if (auto r = fn(*f); !r) state.exit_code = ReportError(r.error());
    });
    return std::pair{c, f};
  };
  auto range_flags = [](CLI::App* c, Flags* f) {
    c->add_option("KEY", f->args, "key [range_end]")->expected(1, 2);
    c->add_flag("--prefix", f->prefix, "keys with KEY as prefix");
    c->add_flag("--from-key", f->from_key, "keys >= KEY (byte order)");
  };
  auto [get, gf] = leaf("get", "Get keys (linearizable unless --consistency s)", RunGet);
  range_flags(get, gf.get());
  StrictInt(get->add_option("--rev", gf->rev, "revision to read at (0: latest)"), 0);
  StrictInt(get->add_option("--limit", gf->limit, "maximum number of results"), 0);
  get->add_flag("--keys-only", gf->keys_only, "keys only");
  get->add_flag("--count-only", gf->count_only, "only the count of keys");
  get->add_flag("--print-value-only", gf->print_value_only, "simple output: values only");
  get->add_option("--consistency", gf->consistency, "l (linearizable) or s (serializable)");
  get->add_option("--order", gf->order, "ASCEND or DESCEND (etcd sorts before --limit)");
  get->add_option("--sort-by", gf->sort_by, "CREATE, KEY, MODIFY, VALUE or VERSION");
  AddClientFlags(get, &gf->client);

  auto [put, pf] = leaf("put", "Put a key (VALUE from stdin when absent)", RunPut);
  put->add_option("KEY", pf->args, "key [value]")->expected(1, 2);
  put->add_option("--lease", pf->lease, "lease ID in hex");
  put->add_flag("--prev-kv", pf->prev_kv, "return the previous key-value");
  AddClientFlags(put, &pf->client);

  auto [del, df] = leaf("del", "Delete keys", RunDel);
  range_flags(del, df.get());
  del->add_flag("--prev-kv", df->prev_kv, "return the deleted key-values");
  AddClientFlags(del, &df->client);

  auto [txn, tf] =
      leaf("txn", "A transaction read from stdin in etcdctl's syntax (compares, success, failure)",
           RunTxn);
  AddClientFlags(txn, &tf->client);
}

}  // namespace cpr::cli
