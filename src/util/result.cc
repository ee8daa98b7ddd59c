#include "util/result.h"

namespace cpr {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kIo:
      return "io";
    case Code::kCorrupt:
      return "corrupt";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kFailedPrecondition:
      return "failed precondition";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Error::ToString() const {
  std::string out;
  if (!where.empty()) out = where + ": ";
  out += what;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}

Error&& Error::Within(const std::string& outer) && {
  where = where.empty() ? outer : outer + ": " + where;
  return std::move(*this);
}

}  // namespace cpr
