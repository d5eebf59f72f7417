// SHA-256 over length-prefixed fields, for the store's digests.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::storage::internal {

struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Feeds length-prefixed fields, so no two different row sequences hash the
// same bytes.
class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr &&
          EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
  }
  void Field(std::string_view bytes) {
    unsigned char len[8];
    uint64_t n = bytes.size();
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<unsigned char>(n >> (8 * i));
    ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), len, sizeof len) == 1 &&
          EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) == 1;
  }
  Result<std::string> Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), md, &n) != 1) {
      return Status::Internal("content digest", "SHA-256 failed");
    }
    static const char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out.push_back(kDigits[md[i] >> 4]);
      out.push_back(kDigits[md[i] & 0xf]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> ctx_;
  bool ok_ = false;
};

}  // namespace posta::storage::internal
