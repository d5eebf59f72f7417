// libFuzzer target for the sync wire decoders (Decode*, DumpJson), with the
// checks of batch_fuzz_entry.h: inputs are tried as encoded messages and as
// raw archive payloads.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "batch_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string failure = posta::fuzz::CheckBatchInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "batch_fuzzer: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
