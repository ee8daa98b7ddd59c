// Output for every command: one -w flag (table|json|yaml, plus raw where a
// command allows it), JSON documents, tables and YAML rendered from JSON.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/spool.h"

namespace cpr::cli {

using Json = nlohmann::ordered_json;

enum class Format { kTable, kJson, kYaml, kRaw };

// Parses the -w value; "simple" is accepted as table for etcdctl habits.
bool ParseFormat(const std::string& text, Format* out);

// One JSON document on one line, as etcdctl -w json prints.
void PrintJson(std::ostream& out, const Json& doc);
void PrintYaml(std::ostream& out, const Json& doc);

// Bytes a reader may hold in memory before it spools to temporary files:
// `fallback`, or the number in $CPR_READER_MEMORY. That variable is for
// tests: with a tiny limit a small file shows that nothing held grows with
// the file (tests/integration/test_read_memory.py).
size_t ReaderMemory(size_t fallback);

// Holds a streamed document until it is whole: a command that fails
// half-way leaves stdout empty, never half a document. The first 8 MB stay
// (or `memory`) in memory, the rest goes to an unlinked temporary file, so memory stays
// bounded whatever the document's size.
class SpooledOutput {
 public:
  explicit SpooledOutput(size_t memory = 8 << 20);
  ~SpooledOutput();
  SpooledOutput(const SpooledOutput&) = delete;
  SpooledOutput& operator=(const SpooledOutput&) = delete;
  std::ostream& stream();
  // Copies the document to `out`, in order.
  Result<void> Commit(std::ostream& out);

 private:
  class Buffer;
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<std::ostream> stream_;
};

// stdout through a 1 MB buffer, flushed when full and on Flush(): for a
// large output written in many small pieces (std::cout, synchronised with
// stdio, takes each piece on its own).
class BufferedStdout {
 public:
  BufferedStdout();
  ~BufferedStdout();
  BufferedStdout(const BufferedStdout&) = delete;
  BufferedStdout& operator=(const BufferedStdout&) = delete;
  std::ostream& stream();
  void Flush();

 private:
  class Buffer;
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<std::ostream> stream_;
};

// A bordered table like etcdctl's tablewriter output: headers centred;
// cells right-aligned as etcdctl sets them (kEtcdctl, for the tables etcdctl
// prints too), or text left and numbers right (kText, cpr's own tables).
// Its widths need every row first, so rows are kept in a Spool: past 8 MB
// of cells they wait in a temporary file, and a table of any length prints
// in bounded memory.
class Table {
 public:
  enum class Align { kText, kEtcdctl };
  explicit Table(std::vector<std::string> header, Align align = Align::kText);
  void Add(const std::vector<std::string>& row);
  // The same from views (no copy of the cells): for tables of many rows.
  void Add(std::span<const std::string_view> row);
  // Why a row could not be kept (the temporary file failed); check it
  // before Print(), which then prints nothing.
  const Result<void>& status() const { return status_; }
  void Print(std::ostream& out) const;

 private:
  static constexpr size_t kMemory = 8 << 20;
  std::vector<std::string> header_;
  Align align_;
  std::vector<size_t> width_;
  // Each row: the length of what follows, its cell count, then each
  // cell's length and bytes (all lengths 32-bit, native order).
  mutable Spool rows_{ReaderMemory(kMemory)};
  std::string row_;  // the row Add() is encoding
  uint64_t count_ = 0;
  mutable Result<void> status_;
};

}  // namespace cpr::cli
