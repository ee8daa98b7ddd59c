// Output for every command: one -w flag (table|json|yaml, plus raw where a
// command allows it), JSON documents, tables and YAML rendered from JSON.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cpr::cli {

using Json = nlohmann::ordered_json;

enum class Format { kTable, kJson, kYaml, kRaw };

// Parses the -w value; "simple" is accepted as table for etcdctl habits.
bool ParseFormat(const std::string& text, Format* out);

// One JSON document on one line, as etcdctl -w json prints.
void PrintJson(std::ostream& out, const Json& doc);
void PrintYaml(std::ostream& out, const Json& doc);

// A bordered table like etcdctl's tablewriter output.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace cpr::cli
