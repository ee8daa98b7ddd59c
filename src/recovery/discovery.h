// The documents kubectl reads before it does anything (k8s-csr-api.md §2),
// and the Table rendering of CSRs for `kubectl get csr` (§4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recovery/codec.h"

namespace cpr::recovery {

Json ApiGroupList();
Json ApiGroup();
// "v1" or "v1beta1".
Json ApiResourceList(const std::string& version);
Json VersionInfo();

// A meta.k8s.io/v1 Table with columns NAME AGE SIGNERNAME REQUESTOR
// CONDITION, one row per CSR. `include_object`: "None", "Metadata"
// (default) or "Object" (the whole CSR in `version`).
Json CsrTable(const std::vector<Csr>& csrs, int64_t list_version, const std::string& version,
              const std::string& include_object, int64_t now);

}  // namespace cpr::recovery
