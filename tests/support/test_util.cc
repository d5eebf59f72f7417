#include "test_util.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace posta::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/posta-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Seeds ReadCorpus(const std::string& dir) {
  Seeds seeds;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    seeds.emplace_back(entry.path().filename().string(),
                       ReadWholeFile(entry.path().string()));
  }
  std::sort(seeds.begin(), seeds.end());
  return seeds;
}

Status WriteCorpus(const std::string& dir, const Seeds& seeds) {
  for (const auto& [name, bytes] : seeds) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.good()) return Status::IOError(path, "could not write the seed");
  }
  return Status::Ok();
}

std::string TempDir::File(const std::string& name) const {
  return path_ + "/" + name;
}

}  // namespace posta::testing
