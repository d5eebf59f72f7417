#include "auth/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <vector>

namespace posta::node::auth {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr std::string_view kScheme = "scrypt";

Status CheckParams(const ScryptParams& p) {
  const bool power_of_two = p.n >= 2 && (p.n & (p.n - 1)) == 0;
  if (!power_of_two || p.n > (uint64_t{1} << 20) || p.r < 1 || p.r > 32 ||
      p.p < 1 || p.p > 16) {
    return Status::InvalidArgument(
        "scrypt parameters N=" + std::to_string(p.n) +
            " r=" + std::to_string(p.r) + " p=" + std::to_string(p.p),
        "N must be a power of two up to 2^20, r 1..32, p 1..16");
  }
  return Status::Ok();
}

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                          static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Decodes standard base64 with padding; false on anything else.
bool Unbase64(std::string_view text, std::vector<unsigned char>* out) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 256) return false;
  out->assign(3 * text.size() / 4, 0);
  int n = EVP_DecodeBlock(out->data(),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out->resize(static_cast<size_t>(n) - pad);
  return true;
}

Status Scrypt(std::string_view password, const unsigned char* salt,
              size_t salt_size, const ScryptParams& p, unsigned char* key,
              size_t key_size) {
  // Room for scrypt's 128*N*r bytes plus OpenSSL's own bookkeeping.
  const uint64_t maxmem = 128 * p.n * p.r * (p.p + 1) + (uint64_t{1} << 20);
  if (EVP_PBE_scrypt(password.data(), password.size(), salt, salt_size, p.n,
                     p.r, p.p, maxmem, key, key_size) != 1) {
    return Status::Internal("scrypt", "EVP_PBE_scrypt failed");
  }
  return Status::Ok();
}

bool ParseNumber(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

struct Parsed {
  ScryptParams params;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

Result<Parsed> Parse(std::string_view stored) {
  const Status bad =
      Status::Malformed("password hash",
                        "not scrypt$N$r$p$salt$hash (reset it with posta user "
                        "passwd)");
  std::vector<std::string_view> parts;
  while (parts.size() < 7) {
    size_t dollar = stored.find('$');
    parts.push_back(stored.substr(0, dollar));
    if (dollar == std::string_view::npos) break;
    stored.remove_prefix(dollar + 1);
  }
  if (parts.size() != 6 || parts[0] != kScheme) return bad;
  Parsed out;
  if (!ParseNumber(parts[1], &out.params.n) ||
      !ParseNumber(parts[2], &out.params.r) ||
      !ParseNumber(parts[3], &out.params.p)) {
    return bad;
  }
  if (!CheckParams(out.params).ok()) return bad;
  if (!Unbase64(parts[4], &out.salt) || out.salt.empty() ||
      !Unbase64(parts[5], &out.hash) || out.hash.size() < 16) {
    return bad;
  }
  return out;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password,
                                 const ScryptParams& params) {
  POSTA_RETURN_IF_ERROR(CheckParams(params));
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    return Status::Internal("RAND_bytes", "the random generator failed");
  }
  unsigned char key[kHashBytes];
  POSTA_RETURN_IF_ERROR(
      Scrypt(password, salt, sizeof salt, params, key, sizeof key));
  return std::string(kScheme) + "$" + std::to_string(params.n) + "$" +
         std::to_string(params.r) + "$" + std::to_string(params.p) + "$" +
         Base64(salt, sizeof salt) + "$" + Base64(key, sizeof key);
}

Result<bool> VerifyPassword(std::string_view password,
                            std::string_view stored) {
  POSTA_ASSIGN_OR_RETURN(Parsed parsed, Parse(stored));
  std::vector<unsigned char> key(parsed.hash.size());
  POSTA_RETURN_IF_ERROR(Scrypt(password, parsed.salt.data(), parsed.salt.size(),
                               parsed.params, key.data(), key.size()));
  return CRYPTO_memcmp(key.data(), parsed.hash.data(), key.size()) == 0;
}

Result<ScryptParams> StoredParams(std::string_view stored) {
  POSTA_ASSIGN_OR_RETURN(Parsed parsed, Parse(stored));
  return parsed.params;
}

}  // namespace posta::node::auth
