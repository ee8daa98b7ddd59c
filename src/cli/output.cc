#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <ostream>
#include <streambuf>
#include <string_view>
#include <vector>

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

size_t ReaderMemory(size_t fallback) {
  const char* limit = std::getenv("CPR_READER_MEMORY");
  return limit != nullptr ? std::strtoull(limit, nullptr, 10) : fallback;
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

Table::Table(std::vector<std::string> header, Align align)
    : header_(std::move(header)), align_(align), width_(header_.size()) {
  for (size_t c = 0; c < header_.size(); c++) width_[c] = header_[c].size();
}

namespace {

void AppendU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

uint32_t LoadU32(const char* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

// Reads one row Table::Add spooled into `bytes`, its cells as views of it;
// false at the end.
Result<bool> ReadRow(Spool& spool, std::string& bytes, std::vector<std::string_view>& row) {
  char head[4];
  const size_t got = CPR_TRY(spool.Read(head, 4));
  if (got == 0) return false;
  const auto cut = [] { return MakeError(Code::kInternal, "table", "a spooled row is cut short"); };
  if (got < 4) return cut();
  bytes.resize(LoadU32(head));
  if (CPR_TRY(spool.Read(bytes.data(), bytes.size())) < bytes.size() || bytes.size() < 4)
    return cut();
  row.resize(LoadU32(bytes.data()));
  size_t at = 4;
  for (auto& cell : row) {
    if (bytes.size() - at < 4) return cut();
    const uint32_t len = LoadU32(bytes.data() + at);
    at += 4;
    if (bytes.size() - at < len) return cut();
    cell = std::string_view(bytes.data() + at, len);
    at += len;
  }
  return true;
}

// A cell kText aligns right: digits, '.' and '-' only.
bool IsNumberCell(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

void Table::Add(const std::vector<std::string>& row) {
  std::vector<std::string_view> views(row.begin(), row.end());
  Add(views);
}

void Table::Add(std::span<const std::string_view> row) {
  if (!status_) return;
  row_.assign(4, '\0');  // the length, set below
  AppendU32(row_, static_cast<uint32_t>(row.size()));
  for (size_t c = 0; c < row.size(); c++) {
    AppendU32(row_, static_cast<uint32_t>(row[c].size()));
    row_.append(row[c]);
    if (c < width_.size()) width_[c] = std::max(width_[c], row[c].size());
  }
  const auto body = static_cast<uint32_t>(row_.size() - 4);
  std::memcpy(row_.data(), &body, 4);
  status_ = rows_.Append(row_);
  count_++;
}

void Table::Print(std::ostream& out) const {
  if (!status_ || !(status_ = rows_.Rewind())) return;
  // Each line is built in one string and written at once: a table can have
  // hundreds of thousands of rows.
  std::string text;
  auto rule = [&] {
    text.assign(1, '+');
    for (size_t w : width_) text.append(w + 2, '-').push_back('+');
    text.push_back('\n');
    out << text;
  };
  auto line = [&](std::span<const std::string_view> cells, bool center) {
    text.assign(1, '|');
    for (size_t c = 0; c < width_.size(); c++) {
      const std::string_view s = c < cells.size() ? cells[c] : "";
      const size_t pad = width_[c] - s.size();
      const bool right = align_ == Align::kEtcdctl || IsNumberCell(s);
      const size_t left = center ? pad / 2 : (right ? pad : 0);
      text.append(left + 1, ' ').append(s).append(pad - left + 1, ' ').push_back('|');
    }
    text.push_back('\n');
    out << text;
  };
  rule();
  const std::vector<std::string_view> header(header_.begin(), header_.end());
  line(header, true);
  rule();
  std::string bytes;
  std::vector<std::string_view> row;
  for (uint64_t i = 0; i < count_; i++) {
    auto more = ReadRow(rows_, bytes, row);
    if (!more || !*more) {
      status_ = more ? MakeError(Code::kInternal, "table", "spooled rows missing") : more.error();
      return;
    }
    line(row, false);
  }
  rule();
}

// ---- SpooledOutput ----------------------------------------------------------

class SpooledOutput::Buffer : public std::streambuf {
 public:
  explicit Buffer(size_t memory) : spool_(memory) {}

  Result<void> CopyTo(std::ostream& out) {
    CPR_RETURN_IF_ERROR(status_);
    CPR_RETURN_IF_ERROR(spool_.Rewind());
    std::string chunk(1 << 20, '\0');
    while (size_t n = CPR_TRY(spool_.Read(chunk.data(), chunk.size())))
      out.write(chunk.data(), static_cast<std::streamsize>(n));
    out.flush();
    return {};
  }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (!status_ || !(status_ = spool_.Append(Bytes(s, static_cast<size_t>(n))))) return 0;
    return n;
  }

 private:
  Spool spool_;
  Result<void> status_;
};

class BufferedStdout::Buffer : public std::streambuf {
 public:
  Buffer() : bytes_(1 << 20) { setp(bytes_.data(), bytes_.data() + bytes_.size()); }
  int overflow(int c) override {
    sync();
    if (c != traits_type::eof()) sputc(static_cast<char>(c));
    return traits_type::not_eof(c);
  }
  int sync() override {
    std::cout.write(pbase(), pptr() - pbase());
    std::cout.flush();
    setp(bytes_.data(), bytes_.data() + bytes_.size());
    return std::cout ? 0 : -1;
  }

 private:
  std::vector<char> bytes_;
};

BufferedStdout::BufferedStdout()
    : buffer_(std::make_unique<Buffer>()), stream_(std::make_unique<std::ostream>(buffer_.get())) {}
BufferedStdout::~BufferedStdout() { Flush(); }
std::ostream& BufferedStdout::stream() { return *stream_; }
void BufferedStdout::Flush() { stream_->flush(); }

SpooledOutput::SpooledOutput(size_t memory)
    : buffer_(std::make_unique<Buffer>(ReaderMemory(memory))),
      stream_(std::make_unique<std::ostream>(buffer_.get())) {}
SpooledOutput::~SpooledOutput() = default;

std::ostream& SpooledOutput::stream() { return *stream_; }

Result<void> SpooledOutput::Commit(std::ostream& out) {
  stream_->flush();
  if (!*stream_) return MakeError(Code::kIo, "stdout", "the output could not be spooled");
  return buffer_->CopyTo(out);
}

}  // namespace cpr::cli
