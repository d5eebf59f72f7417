// libFuzzer target for the HTTP API as a whole: each input is one request
// (format in api_fuzz_entry.h) handled by one Api over a real store that
// lives for the whole run, so writes from earlier inputs are there to read,
// update and search.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "api_fuzz_entry.h"

namespace {

const std::string* store_dir = nullptr;

void RemoveStoreDir() {
  std::error_code ignored;
  if (store_dir != nullptr) std::filesystem::remove_all(*store_dir, ignored);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Never destroyed: the store outlives every input of the run. Its
  // directory goes when the run ends normally (-runs, -max_total_time).
  static posta::fuzz::ApiFuzzTarget* const target = [] {
    auto* created = new posta::fuzz::ApiFuzzTarget();
    store_dir = &created->dir();
    std::atexit(RemoveStoreDir);
    return created;
  }();
  const std::string failure = target->Check(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "api_fuzzer: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
