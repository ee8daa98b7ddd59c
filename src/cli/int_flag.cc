// Integer flags, parsed strictly. CLI11's own conversion uses strtoll with
// base 0: it takes " 5", "+5" and "0x10", and clamps 2^63 to INT64_MAX
// without a word, so `--bump-revision 9223372036854775808` silently bumped
// by a different number. Every integer flag of cpr goes through this.
#include <fmt/format.h>

#include "cli/command.h"
#include "util/text.h"

namespace cpr::cli {

CLI::Option* StrictInt(CLI::Option* option, int64_t min, int64_t max, const std::string& hint) {
  return option->check(CLI::Validator(
      [min, max, hint](std::string& text) -> std::string {
        const auto v = ParseInt64(text);
        if (!v)
          return fmt::format(
              "'{}' is not a decimal integer in int64's range (digits, an "
              "optional '-'; no spaces, no 0x)",
              text);
        if (*v < min || *v > max)
          return fmt::format("{} is out of range: {}..{}{}", *v, min, max,
                             hint.empty() ? "" : " (" + hint + ")");
        return "";
      },
      "INT"));
}

}  // namespace cpr::cli
