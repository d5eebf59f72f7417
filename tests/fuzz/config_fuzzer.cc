// libFuzzer target for ParseConfig (posta.toml), with the render round trip
// of config_fuzz_entry.h.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // LoadConfig refuses larger files before parsing.
  if (size > posta::node::kMaxConfigBytes) return 0;
  const std::string failure = posta::fuzz::CheckConfigInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "config_fuzzer: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
