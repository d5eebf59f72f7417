// The hub's TLS material: config validation of tls_cert/tls_key, `posta hub
// tls init` (its pin checked against one computed here with OpenSSL), and
// the rule for plain-HTTP sync.
#include "http/tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "posta/sync/messages.h"
#include "posta/sync/wire.h"
#include "syncd/plain_sync_guard.h"
#include "test_util.h"

namespace posta::node {
namespace {

using ::posta::testing::TempDir;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pin of a PEM certificate as curl computes it: sha256// and the base64
// of the SHA-256 of the DER SubjectPublicKeyInfo. Independent of tls.cc.
std::string PinOf(const std::string& cert_pem) {
  BIO* bio =
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return "unparsable";
  EVP_PKEY* key = X509_get0_pubkey(cert);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  X509_free(cert);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, md, static_cast<int>(md_len));
  return "sha256//" + std::string(reinterpret_cast<char*>(b64), n);
}

class TlsTest : public ::testing::Test {
 protected:
  cli::Io MakeIo() { return cli::Io{.out = out_, .err = err_}; }

  // A hub made by posta init in tmp_/hub, listening on `listen`.
  std::string InitHub(const std::string& listen = "10.0.0.5:8443") {
    cli::Io io = MakeIo();
    EXPECT_OK(cli::RunInit({.dir = tmp_.File("hub"),
                            .role = "hub",
                            .facility = "region-1",
                            .listen = listen},
                           io));
    out_.str("");
    return tmp_.File("hub/posta.toml");
  }

  Status TlsInit(const std::string& config, bool force = false,
                 std::vector<std::string> ips = {},
                 std::vector<std::string> names = {}) {
    cli::Io io = MakeIo();
    return cli::RunHubTlsInit(
        {.config_path = config, .names = names, .ips = ips, .force = force},
        io);
  }

  std::string Out() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  // A config of the hub in tmp_ with [http] tls lines appended.
  std::string HubConfigWith(const std::string& http_tls) {
    const std::string path = tmp_.File("t.toml");
    WriteText(path,
              "[node]\nrole = \"hub\"\nfacility = \"r\"\ndata_dir = "
              "\"d\"\n[http]\n" +
                  http_tls);
    return path;
  }

  TempDir tmp_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(TlsTest, InitWritesKeyCertAndConfigAndPrintsTheirPin) {
  const std::string config = InitHub();
  ASSERT_OK(TlsInit(config, false, {}, {"hub.example.org"}));
  const std::string out = Out();
  const std::string cert = ReadText(tmp_.File("hub/hub-cert.pem"));
  const std::string pin = PinOf(cert);
  ASSERT_EQ(pin.size(), 8u + 44u) << pin;
  EXPECT_NE(out.find("pin:         " + pin + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("posta enroll --config /etc/posta/posta.toml --hub "
                     "https://hub.example.org:8443 --code CODE --pin " +
                     pin),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fingerprint: SHA256 "), std::string::npos) << out;
  EXPECT_NE(out.find("for 10.0.0.5 hub.example.org"), std::string::npos) << out;
  struct stat st;
  ASSERT_EQ(::stat(tmp_.File("hub/hub-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The config now names both files (relative, like data_dir) and loads.
  ASSERT_OK_AND_ASSIGN(NodeConfig loaded, LoadConfig(config));
  EXPECT_EQ(loaded.tls_cert, tmp_.File("hub/hub-cert.pem"));
  EXPECT_EQ(loaded.tls_key, tmp_.File("hub/hub-key.pem"));
  EXPECT_NE(ReadText(config).find("tls_cert = \"./hub-cert.pem\""),
            std::string::npos)
      << ReadText(config);
  ASSERT_OK_AND_ASSIGN(CertificateIds ids, DescribeCertificate(cert, "cert"));
  EXPECT_EQ(ids.pin, pin);
  EXPECT_EQ(ids.fingerprint.size(), 32u * 3 - 1);
}

TEST_F(TlsTest, InitRefusesToReplaceACertificateUnlessForced) {
  const std::string config = InitHub();
  ASSERT_OK(TlsInit(config));
  const std::string first = PinOf(ReadText(tmp_.File("hub/hub-cert.pem")));
  // No --ip or --name: clinics are told the address the hub listens on.
  EXPECT_NE(
      Out().find("--hub https://10.0.0.5:8443 --code CODE --pin " + first),
      std::string::npos);
  Status again = TlsInit(config);
  EXPECT_EQ(again.code(), Status::Code::kConflict) << again.ToString();
  EXPECT_NE(again.message().find("--force"), std::string::npos);
  EXPECT_EQ(PinOf(ReadText(tmp_.File("hub/hub-cert.pem"))), first);
  Out();
  ASSERT_OK(TlsInit(config, /*force=*/true));
  const std::string second = PinOf(ReadText(tmp_.File("hub/hub-cert.pem")));
  EXPECT_NE(second, first);
  EXPECT_NE(Out().find(second), std::string::npos);
}

TEST_F(TlsTest, InitRefusesAClinicAndABadAddress) {
  const std::string config = InitHub();
  Status bad = TlsInit(config, false, {"10.0.0.300"});
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("--ip 10.0.0.300"), std::string::npos)
      << bad.ToString();
  EXPECT_FALSE(::access(tmp_.File("hub/hub-key.pem").c_str(), F_OK) == 0);
  bad = TlsInit(config, false, {}, {"a,IP:1.2.3.4"});
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument) << bad.ToString();

  cli::Io io = MakeIo();
  ASSERT_OK(cli::RunInit({.dir = tmp_.File("clinic"),
                          .role = "clinic",
                          .facility = "c1",
                          .listen = "127.0.0.1:0"},
                         io));
  bad = TlsInit(tmp_.File("clinic/posta.toml"));
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("runs on the hub"), std::string::npos);
}

TEST_F(TlsTest, ConfigNamesAMissingOrMismatchedFile) {
  ASSERT_OK_AND_ASSIGN(PemPair a, MakeSelfSigned({.common_name = "a"}));
  ASSERT_OK_AND_ASSIGN(PemPair b, MakeSelfSigned({.common_name = "b"}));
  WriteText(tmp_.File("a.crt"), a.cert_pem);
  WriteText(tmp_.File("a.key"), a.key_pem);
  WriteText(tmp_.File("b.key"), b.key_pem);

  EXPECT_OK(
      LoadConfig(HubConfigWith("tls_cert = \"a.crt\"\ntls_key = \"a.key\"\n")));

  Result<NodeConfig> r = LoadConfig(
      HubConfigWith("tls_cert = \"missing.crt\"\ntls_key = \"a.key\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(
      r.status().message().find("http.tls_cert " + tmp_.File("missing.crt") +
                                ": cannot be read"),
      std::string::npos)
      << r.status().ToString();

  r = LoadConfig(HubConfigWith("tls_cert = \"a.crt\"\ntls_key = \"b.key\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("http.tls_key " + tmp_.File("b.key") +
                                      ": is not the key of"),
            std::string::npos)
      << r.status().ToString();

  r = LoadConfig(HubConfigWith("tls_cert = \"a.key\"\ntls_key = \"a.key\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a PEM certificate"),
            std::string::npos)
      << r.status().ToString();

  r = LoadConfig(HubConfigWith("tls_cert = \"a.crt\"\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("set tls_cert and tls_key together"),
            std::string::npos)
      << r.status().ToString();
}

TEST(PlainSyncRefusalTest, SyncOverPlainHttpOnlyFromLoopbackWhenAllowed) {
  HttpRequest remote{.method = "POST", .target = "/sync/v1/hello"};
  remote.remote_address = "10.0.0.9:40000";
  HttpRequest loop = remote;
  loop.remote_address = "127.0.0.1:40000";
  HttpRequest loop6 = remote;
  loop6.remote_address = "[::1]:40000";
  HttpRequest health{.method = "GET", .target = "/health"};
  health.remote_address = "10.0.0.9:40000";

  // A hub with TLS serves everything.
  EXPECT_FALSE(PlainSyncRefusal(true, false, remote, nullptr));
  // Not sync: never refused here.
  EXPECT_FALSE(PlainSyncRefusal(false, false, health, nullptr));
  // Loopback passes only when allowed; another machine never.
  EXPECT_FALSE(PlainSyncRefusal(false, true, loop, nullptr));
  EXPECT_FALSE(PlainSyncRefusal(false, true, loop6, nullptr));
  for (const auto& [allow, request] :
       {std::pair{false, loop}, std::pair{true, remote},
        std::pair{false, remote}, std::pair{false, loop6}}) {
    auto refusal = PlainSyncRefusal(false, allow, request, nullptr);
    ASSERT_TRUE(refusal.has_value()) << request.remote_address;
    EXPECT_EQ(refusal->status, 403);
    EXPECT_EQ(refusal->content_type, sync::kContentType);
    ASSERT_OK_AND_ASSIGN(sync::ErrorReply error,
                         sync::DecodeErrorReply(refusal->body));
    EXPECT_EQ(error.code, sync::kErrorTlsRequired);
    EXPECT_NE(error.message.find("posta hub tls init"), std::string::npos);
  }
}

TEST(PlainSyncRefusalTest, LoopbackPeers) {
  EXPECT_TRUE(IsLoopbackPeer("127.0.0.1:1"));
  EXPECT_TRUE(IsLoopbackPeer("127.200.3.4:65535"));
  EXPECT_TRUE(IsLoopbackPeer("[::1]:80"));
  EXPECT_TRUE(IsLoopbackPeer("[::ffff:127.0.0.1]:80"));
  EXPECT_FALSE(IsLoopbackPeer("128.0.0.1:1"));
  EXPECT_FALSE(IsLoopbackPeer("10.127.0.1:1"));
  EXPECT_FALSE(IsLoopbackPeer("[::2]:80"));
  EXPECT_FALSE(IsLoopbackPeer("[::ffff:10.0.0.1]:80"));
  EXPECT_FALSE(IsLoopbackPeer(""));
  EXPECT_FALSE(IsLoopbackPeer("localhost:80"));
}

}  // namespace
}  // namespace posta::node
