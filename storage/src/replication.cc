#include "posta/storage/replication.h"

#include <openssl/evp.h>

#include "posta/base/check.h"

namespace posta::storage {

bool IsValidFacilityId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char ch : id) {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                    ch == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ConflictId(ResourceType type, std::string_view record_id,
                       std::string_view field,
                       const base::HlcStamp& loser_stamp) {
  std::string input(ResourceTypeName(type));
  input.push_back('\n');
  input.append(record_id);
  input.push_back('\n');
  input.append(field);
  input.push_back('\n');
  input.append(loser_stamp.ToString());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  POSTA_CHECK(EVP_Digest(input.data(), input.size(), digest, &length,
                         EVP_sha256(), nullptr) == 1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < 16; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace posta::storage
