#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <streambuf>

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
      const bool number = !s.empty() && s.find_first_not_of("0123456789.-") == std::string::npos;
      const bool right = align_ == Align::kEtcdctl || number;
      const size_t left = center ? pad / 2 : (right ? pad : 0);
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

// ---- SpooledOutput ----------------------------------------------------------

class SpooledOutput::Buffer : public std::streambuf {
 public:
  ~Buffer() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  Result<void> CopyTo(std::ostream& out) {
    CPR_RETURN_IF_ERROR(Spill());
    if (file_ == nullptr) {
      out.write(memory_.data(), static_cast<std::streamsize>(memory_.size()));
    } else {
      std::rewind(file_);
      std::string chunk(1 << 20, '\0');
      size_t n;
      while ((n = std::fread(chunk.data(), 1, chunk.size(), file_)) > 0)
        out.write(chunk.data(), static_cast<std::streamsize>(n));
      if (std::ferror(file_)) return Fail("cannot read back the spooled output");
    }
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
    memory_.append(s, static_cast<size_t>(n));
    if (memory_.size() >= kMemory && !Spill()) return 0;
    return n;
  }

 private:
  static constexpr size_t kMemory = 8 << 20;

  Result<void> Fail(const std::string& what) {
    return MakeError(Code::kIo, "stdout", what + ": " + std::strerror(errno));
  }
  // Moves what is in memory to the temporary file (made on first use).
  Result<void> Spill() {
    if (memory_.empty() || (file_ == nullptr && memory_.size() < kMemory)) return {};
    if (file_ == nullptr && (file_ = std::tmpfile()) == nullptr)
      return Fail("cannot make a temporary file to hold the output");
    if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size())
      return Fail("cannot write the spooled output");
    memory_.clear();
    return {};
  }

  std::string memory_;
  std::FILE* file_ = nullptr;
};

SpooledOutput::SpooledOutput()
    : buffer_(std::make_unique<Buffer>()), stream_(std::make_unique<std::ostream>(buffer_.get())) {}
SpooledOutput::~SpooledOutput() = default;

std::ostream& SpooledOutput::stream() { return *stream_; }

Result<void> SpooledOutput::Commit(std::ostream& out) {
  stream_->flush();
  if (!*stream_) return MakeError(Code::kIo, "stdout", "the output could not be spooled");
  return buffer_->CopyTo(out);
}

}  // namespace cpr::cli
