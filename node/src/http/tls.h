// TLS material for the hub's HTTPS: checking a configured certificate and
// key, making a self-signed pair for a first install (`posta hub tls init`),
// and the two ways a clinic names the hub's certificate. OpenSSL stays in
// tls.cc and server.cc; this header is plain strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"

namespace posta::node {

// Reads both PEM files and checks that the key is the certificate's.
// InvalidArgument naming the file ("<what_cert> <path>" or the key's) and
// what is wrong: unreadable, not a PEM certificate/key, or a key that does
// not belong to the certificate.
Status CheckTlsFiles(const std::string& cert_path, const std::string& key_path,
                     std::string_view what_cert = "tls_cert",
                     std::string_view what_key = "tls_key");

// What a clinic pins or compares: "sha256//<base64 of SHA-256 of the DER
// SubjectPublicKeyInfo>" (libcurl's CURLOPT_PINNEDPUBLICKEY form) and the
// certificate's SHA-256 fingerprint as colon-separated hex pairs.
struct CertificateIds {
  std::string pin;
  std::string fingerprint;
};
// From one PEM certificate; InvalidArgument(`what`, why) when it does not
// parse.
Result<CertificateIds> DescribeCertificate(std::string_view cert_pem,
                                           std::string_view what);

struct SelfSignedRequest {
  std::string common_name;                // the hub's facility
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries
  int days = 3650;                        // validity from now
};
struct PemPair {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8, unencrypted: keep it mode 0600
};
// A new EC P-256 key and a self-signed X.509 v3 certificate for it.
// InvalidArgument for an IP address that does not parse.
Result<PemPair> MakeSelfSigned(const SelfSignedRequest& request);

// True for an "ip:port" / "[ip]:port" peer (HttpRequest::remote_address)
// on a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.x.x.
bool IsLoopbackPeer(std::string_view remote_address);

}  // namespace posta::node
