#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <ostream>

namespace cpr::cli {

bool ParseFormat(const std::string& text, Format* out) {
  if (text == "table" || text == "simple")
    *out = Format::kTable;
  else if (text == "json")
    *out = Format::kJson;
  else if (text == "yaml")
    *out = Format::kYaml;
  else if (text == "raw")
    *out = Format::kRaw;
  else
    return false;
  return true;
}

void PrintJson(std::ostream& out, const Json& doc) {
  // Invalid UTF-8 in strings is replaced rather than aborting the output.
  out << doc.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

namespace {

// Strings a YAML reader would take for something else (a number, a bool,
// null) are quoted, so `resourceVersion: "1973"` stays a string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* kWords[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* w : kWords)
    if (lower == w) return true;
  return s.find_first_not_of("0123456789+-.eExXoOabcdefABCDEF_:") == std::string::npos &&
         std::isdigit(static_cast<unsigned char>(s.back()));
}

void EmitYaml(YAML::Emitter& e, const Json& j) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      e << YAML::Key << it.key() << YAML::Value;
      EmitYaml(e, it.value());
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j) EmitYaml(e, v);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (NeedsQuotes(s)) {
      e << YAML::DoubleQuoted << s;
    } else {
      e << s;
    }
  } else if (j.is_null()) {
    e << YAML::Null;
  } else {
    e << j.dump();
  }
}

}  // namespace

void PrintYaml(std::ostream& out, const Json& doc) {
  YAML::Emitter e;
  EmitYaml(e, doc);
  out << e.c_str() << '\n';
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); c++) width[c] = header_[c].size();
  for (const auto& row : rows_)
    for (size_t c = 0; c < row.size() && c < width.size(); c++)
      width[c] = std::max(width[c], row[c].size());
  auto rule = [&] {
    out << '+';
    for (size_t w : width) out << std::string(w + 2, '-') << '+';
    out << '\n';
  };
  auto line = [&](const std::vector<std::string>& cells, bool center) {
    out << '|';
    for (size_t c = 0; c < width.size(); c++) {
      const std::string& s = c < cells.size() ? cells[c] : std::string();
      const size_t pad = width[c] - s.size();
      // Headers centred; numbers right-aligned, as etcdctl; text left-aligned.
      const bool number = !s.empty() && s.find_first_not_of("0123456789.-") == std::string::npos;
      const size_t left = center ? pad / 2 : (number ? pad : 0);
      out << ' ' << std::string(left, ' ') << s << std::string(pad - left, ' ') << " |";
    }
    out << '\n';
  };
  rule();
  line(header_, true);
  rule();
  for (const auto& row : rows_) line(row, false);
  rule();
}

}  // namespace cpr::cli
