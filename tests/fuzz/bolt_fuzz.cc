// libFuzzer target: any bytes as a snapshot file. Whatever the input, the
// reader, the check, status and the MVCC scans must return (an error is
// fine) without crashing, hanging or reading out of bounds.
#include <cstddef>
#include <cstdint>

#include "bolt/check.h"
#include "etcd/mvcc.h"
#include "etcd/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cpr;
  auto file = MappedFile::FromBytes(Bytes(reinterpret_cast<const char*>(data), size), "fuzz.db");
  auto reader = bolt::Reader::Open(std::move(file), bolt::Reader::Options{});
  if (!reader) return 0;
  (void)bolt::Check(**reader, 100);
  auto backend = etcd::Backend::Over(std::move(*reader));
  (void)etcd::ComputeStatus(*backend);
  auto rev = etcd::ResolveRevision(*backend, 0);
  if (rev) {
    auto set = etcd::LiveKeys(*backend, *rev, "");
    if (set)
      for (size_t i = 0; i < set->size() && i < 50; i++) (void)set->record(i);
    (void)etcd::History(*backend, "foo");
    (void)etcd::GetKey(*backend, "leased", *rev);
  }
  return 0;
}
