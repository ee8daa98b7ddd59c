// CertificateSigningRequest on the wire: JSON (v1 and v1beta1) both ways,
// and the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`:
// `k8s\0` + runtime.Unknown around the object, k8s-values.md §2) decoded,
// which kubectl >= 1.32 sends for approvals and kubelets for creates.
//
// Decoders never crash or read out of bounds on any input; what they cannot
// read is an Error (kInvalidArgument) naming the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "recovery/csr.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cpr::recovery {

using Json = nlohmann::ordered_json;

// "v1" or "v1beta1".
Json CsrToJson(const Csr& csr, const std::string& version);
Result<Csr> CsrFromJson(std::string_view body);

// The `k8s\0` protobuf envelope around a CertificateSigningRequest.
Result<Csr> CsrFromProtobuf(Bytes body);

// Decodes by content type: JSON, or protobuf for application/vnd.kubernetes.protobuf.
Result<Csr> DecodeCsrBody(const std::string& content_type, std::string_view body);

// A Kubernetes Status document ("Failure" unless code < 400).
Json StatusJson(int code, const std::string& reason, const std::string& message,
                const Json& details = nullptr);

}  // namespace cpr::recovery
