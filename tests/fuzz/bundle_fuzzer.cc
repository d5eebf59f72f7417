// libFuzzer target for the sync bundle reader (posta/sync/bundle_file.h),
// with the checks of bundle_fuzz_entry.h: inputs are tried as bundle files
// and as frames signed with the fuzz key.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bundle_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string failure = posta::fuzz::CheckBundleInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "bundle_fuzzer: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
