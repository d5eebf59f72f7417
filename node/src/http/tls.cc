#include "http/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace posta::node {
namespace {

// PEM files are small; anything larger is not one.
constexpr std::streamsize kMaxPemBytes = 1 << 20;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION,
                               Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

// The reason of the last OpenSSL error, clearing the queue.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

Result<std::string> ReadPem(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(
        what, std::string("cannot be read: ") + std::strerror(errno));
  }
  std::string text(static_cast<size_t>(kMaxPemBytes) + 1, '\0');
  in.read(text.data(), kMaxPemBytes + 1);
  if (in.bad()) return Status::InvalidArgument(what, "cannot be read");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxPemBytes)) {
    return Status::InvalidArgument(what, "larger than 1 MiB: not a PEM file");
  }
  return text;
}

BioPtr MemoryBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

Result<X509Ptr> ParseCertificate(std::string_view pem,
                                 const std::string& what) {
  BioPtr bio = MemoryBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument(
        what, "not a PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  return cert;
}

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                          static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

// 1-253 characters of letters, digits, '.', '-' (and '*' for a wildcard):
// nothing that could change the meaning of an OpenSSL extension string.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '*';
    if (!ok) return false;
  }
  return true;
}

bool IsIpAddress(const std::string& text) {
  unsigned char addr[16];
  return inet_pton(AF_INET, text.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, text.c_str(), addr) == 1;
}

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Status::Internal("certificate extension " + value, OpenSslError());
  }
  return Status::Ok();
}

}  // namespace

Status CheckTlsFiles(const std::string& cert_path, const std::string& key_path,
                     std::string_view what_cert, std::string_view what_key) {
  const std::string cert_what = std::string(what_cert) + " " + cert_path;
  const std::string key_what = std::string(what_key) + " " + key_path;
  POSTA_ASSIGN_OR_RETURN(std::string cert_pem, ReadPem(cert_path, cert_what));
  POSTA_ASSIGN_OR_RETURN(std::string key_pem, ReadPem(key_path, key_what));
  POSTA_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem, cert_what));
  BioPtr bio = MemoryBio(key_pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument(
        key_what,
        "not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(
        key_what, "is not the key of " + cert_what +
                      "; give the pair made together (or run posta hub tls "
                      "init --force for a new one)");
  }
  return Status::Ok();
}

Result<CertificateIds> DescribeCertificate(std::string_view cert_pem,
                                           std::string_view what) {
  POSTA_ASSIGN_OR_RETURN(X509Ptr cert,
                         ParseCertificate(cert_pem, std::string(what)));
  unsigned char* der = nullptr;
  const int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (der_len <= 0) return Status::Internal(std::string(what), OpenSslError());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const int hashed = EVP_Digest(der, static_cast<size_t>(der_len), digest,
                                &digest_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (hashed != 1) return Status::Internal(std::string(what), OpenSslError());
  CertificateIds ids;
  ids.pin = "sha256//" + Base64(digest, digest_len);

  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_len) != 1) {
    return Status::Internal(std::string(what), OpenSslError());
  }
  for (unsigned int i = 0; i < digest_len; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, i == 0 ? "%02X" : ":%02X", digest[i]);
    ids.fingerprint += hex;
  }
  return ids;
}

Result<PemPair> MakeSelfSigned(const SelfSignedRequest& request) {
  std::string alt_names;
  for (const std::string& ip : request.ip_addresses) {
    if (!IsIpAddress(ip)) {
      return Status::InvalidArgument("--ip " + ip.substr(0, 64),
                                     "not an IPv4 or IPv6 address");
    }
    alt_names += (alt_names.empty() ? "IP:" : ",IP:") + ip;
  }
  for (const std::string& name : request.dns_names) {
    if (!IsDnsName(name)) {
      return Status::InvalidArgument(
          "--name " + name.substr(0, 64),
          "not a host name (letters, digits, '.' and '-')");
    }
    alt_names += (alt_names.empty() ? "DNS:" : ",DNS:") + name;
  }
  if (request.common_name.empty() || request.common_name.size() > 64) {
    return Status::InvalidArgument("certificate common name",
                                   "must be 1 to 64 characters");
  }

  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return Status::Internal("EC key", OpenSslError());
  X509Ptr cert(X509_new());
  BnPtr serial(BN_new());
  if (cert == nullptr || serial == nullptr) {
    return Status::Internal("certificate", "out of memory");
  }
  // A random 127-bit serial: positive, and unique without a register.
  if (X509_set_version(cert.get(), 2) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr ||
      // A day early: a clinic whose clock runs behind still accepts it.
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24 * 3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), request.days, 0,
                       nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    return Status::Internal("certificate", OpenSslError());
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
          -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return Status::Internal("certificate name", OpenSslError());
  }
  POSTA_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  POSTA_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature"));
  POSTA_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  POSTA_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  if (!alt_names.empty()) {
    POSTA_RETURN_IF_ERROR(
        AddExtension(cert.get(), NID_subject_alt_name, alt_names));
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return Status::Internal("certificate signature", OpenSslError());
  }

  PemPair pair;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || key_bio == nullptr ||
      PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return Status::Internal("PEM", OpenSslError());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(cert_bio.get(), &data);
  pair.cert_pem.assign(data, static_cast<size_t>(size));
  size = BIO_get_mem_data(key_bio.get(), &data);
  pair.key_pem.assign(data, static_cast<size_t>(size));
  return pair;
}

bool IsLoopbackPeer(std::string_view remote) {
  std::string host;
  if (!remote.empty() && remote.front() == '[') {
    const size_t close = remote.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(remote.substr(1, close - 1));
  } else {
    const size_t colon = remote.rfind(':');
    host = std::string(remote.substr(0, colon));
  }
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace posta::node
