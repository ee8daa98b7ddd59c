// Output for every command: one -w flag (table|json|yaml, plus raw where a
// command allows it), JSON documents, tables and YAML rendered from JSON.
#pragma once

#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/result.h"

namespace cpr::cli {

using Json = nlohmann::ordered_json;

enum class Format { kTable, kJson, kYaml, kRaw };

// Parses the -w value; "simple" is accepted as table for etcdctl habits.
bool ParseFormat(const std::string& text, Format* out);

// One JSON document on one line, as etcdctl -w json prints.
void PrintJson(std::ostream& out, const Json& doc);
void PrintYaml(std::ostream& out, const Json& doc);

// Holds a streamed document until it is whole: a command that fails
// half-way leaves stdout empty, never half a document. The first 8 MB stay
// in memory, the rest goes to an unlinked temporary file, so memory stays
// bounded whatever the document's size.
class SpooledOutput {
 public:
  SpooledOutput();
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

// A bordered table like etcdctl's tablewriter output: headers centred;
// cells right-aligned as etcdctl sets them (kEtcdctl, for the tables etcdctl
// prints too), or text left and numbers right (kText, cpr's own tables).
class Table {
 public:
  enum class Align { kText, kEtcdctl };
  explicit Table(std::vector<std::string> header, Align align = Align::kText)
      : header_(std::move(header)), align_(align) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  Align align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace cpr::cli
