// libFuzzer target for HlcStamp::Parse (the text of meta.versionId and of
// If-Match), with the round-trip property of hlc_stamp_fuzz_entry.h.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hlc_stamp_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string failure = posta::fuzz::CheckHlcStampInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "hlc_stamp_fuzzer: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
