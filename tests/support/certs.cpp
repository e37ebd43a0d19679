// One CA database per CA for `openssl ca`, which alone (in OpenSSL 3.0) sets both ends of a
// certificate's validity, so that one can start yesterday and another be already expired.
#include "support/certs.hpp"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace count::test {
namespace {

using namespace std::chrono_literals;

std::string openssl_program() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, end - start)) / "openssl";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  throw std::runtime_error(
      "no openssl program on PATH: the TLS tests need it to make certificates");
}

// A moment as `openssl ca -startdate/-enddate` takes it, e.g. 20240131120000Z.
std::string asn1_time(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &utc);
  return text;
}

// Extension sections for `openssl ca -extensions NAME`, and one CA database each.
constexpr const char* kConfig = R"(
[ req ]
distinguished_name = name
prompt = no
[ name ]
CN = unused
[ ca_extensions ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca ]
default_ca = main_ca
[ main_ca ]
database = {dir}/main_ca.index
serial = {dir}/main_ca.serial
new_certs_dir = {dir}/issued
default_md = sha256
policy = any_name
unique_subject = no
[ other_ca ]
database = {dir}/other_ca.index
serial = {dir}/other_ca.serial
new_certs_dir = {dir}/issued
default_md = sha256
policy = any_name
unique_subject = no
[ any_name ]
commonName = supplied
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[ wrong_host ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.com
authorityKeyIdentifier = keyid
[ other_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
)";

class Maker {
 public:
  explicit Maker(std::filesystem::path dir) : dir_(std::move(dir)), program_(openssl_program()) {
    std::filesystem::create_directories(dir_ / "issued");
    std::string config = kConfig;
    for (std::size_t at = config.find("{dir}"); at != std::string::npos;
         at = config.find("{dir}", at)) {
      config.replace(at, 5, dir_.string());
    }
    write_file(dir_ / "openssl.cnf", config);
    for (const char* ca : {"main_ca", "other_ca"}) {
      write_file(dir_ / (std::string(ca) + ".index"), "");
      write_file(dir_ / (std::string(ca) + ".serial"), "01\n");
    }
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string key(const std::string& name) {
    std::string file = path(name + ".key");
    openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file});
    return file;
  }

  // A self-signed CA certificate; its key is `name`.key.
  std::string ca(const std::string& name, const std::string& common_name) {
    std::string file = path(name + ".pem");
    openssl({"req", "-config", path("openssl.cnf"), "-x509", "-new", "-key", key(name), "-subj",
             "/CN=" + common_name, "-days", "30", "-extensions", "ca_extensions", "-out", file});
    return file;
  }

  // A certificate for `key_file`, signed by the CA `ca_name` (its section in the config),
  // with the extensions of `extensions`, valid from `from` to `until`.
  std::string issue(const std::string& name, const std::string& key_file,
                    const std::string& ca_name, const std::string& extensions,
                    std::chrono::system_clock::time_point from,
                    std::chrono::system_clock::time_point until) {
    const std::string request = path(name + ".csr");
    std::string file = path(name + ".pem");
    openssl({"req", "-config", path("openssl.cnf"), "-new", "-key", key_file, "-subj",
             "/CN=count test " + name, "-out", request});
    openssl({"ca",
             "-config",
             path("openssl.cnf"),
             "-name",
             ca_name,
             "-batch",
             "-notext",
             "-cert",
             path(ca_name + ".pem"),
             "-keyfile",
             path(ca_name + ".key"),
             "-in",
             request,
             "-extensions",
             extensions,
             "-startdate",
             asn1_time(from),
             "-enddate",
             asn1_time(until),
             "-out",
             file});
    return file;
  }

 private:
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), program_);
    const RunResult result = run(args, {}, 60s);
    if (result.status != 0) {
      std::string command;
      for (const std::string& arg : args) command += (command.empty() ? "" : " ") + arg;
      throw std::runtime_error(fmt::format("{} failed (exit status {}): {}{}", command,
                                           result.status, result.out, result.err));
    }
  }

  std::filesystem::path dir_;
  std::string program_;
};

TestCertificates make_certificates(const std::filesystem::path& dir) {
  using std::chrono::hours;
  const auto now = std::chrono::system_clock::now();
  const auto day_ago = now - hours(24);
  const auto month_ahead = now + hours(24 * 30);
  Maker maker(dir);
  TestCertificates made;
  made.ca = maker.ca("main_ca", "count test CA");
  made.other_ca = maker.ca("other_ca", "count test other CA");

  made.server_key = maker.key("server");
  made.server_cert =
      maker.issue("server", made.server_key, "main_ca", "server", day_ago, month_ahead);
  made.expired_key = maker.key("expired");
  made.expired_cert = maker.issue("expired", made.expired_key, "main_ca", "server",
                                  now - hours(24 * 10), now - hours(24 * 2));
  made.wrong_host_key = maker.key("wrong_host");
  made.wrong_host_cert =
      maker.issue("wrong_host", made.wrong_host_key, "main_ca", "wrong_host", day_ago, month_ahead);
  made.other_server_key = maker.key("other_server");
  made.other_server_cert = maker.issue("other_server", made.other_server_key, "other_ca",
                                       "other_server", day_ago, month_ahead);
  made.client_key = maker.key("client");
  made.client_cert =
      maker.issue("client", made.client_key, "main_ca", "client", day_ago, month_ahead);
  made.other_client_key = maker.key("other_client");
  made.other_client_cert = maker.issue("other_client", made.other_client_key, "other_ca", "client",
                                       day_ago, month_ahead);
  made.mismatched_key = maker.key("mismatched");
  made.renewed_key = maker.key("renewed");
  made.renewed_cert =
      maker.issue("renewed", made.renewed_key, "main_ca", "server", day_ago, now + hours(24 * 60));
  made.soon_expiring_key = maker.key("soon_expiring");
  made.soon_expiring_cert = maker.issue("soon_expiring", made.soon_expiring_key, "main_ca",
                                        "server", day_ago, now + hours(24 * 3));
  made.not_pem = maker.path("not_pem.txt");
  write_file(made.not_pem, "this file holds no PEM block\n");
  return made;
}

// The folder lives exactly as long as the certificates that point into it.
struct Kept {
  Kept() : certificates(make_certificates(dir.path())) {}
  TempDir dir;
  TestCertificates certificates;
};

}  // namespace

const TestCertificates& test_certificates() {
  static const Kept kept;
  return kept.certificates;
}

namespace {

std::string fingerprint_of(const X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) {
    throw std::runtime_error("X509_digest failed");
  }
  std::string text;
  for (unsigned int i = 0; i < length; ++i)
    text += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
  return text;
}

}  // namespace

std::string certificate_fingerprint(const std::string& pem_file) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_file.c_str(), "r"),
                                                      &BIO_free);
  if (!bio) throw std::runtime_error("cannot read " + pem_file);
  const std::unique_ptr<X509, decltype(&X509_free)> certificate(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!certificate) throw std::runtime_error("no certificate in " + pem_file);
  return fingerprint_of(certificate.get());
}

std::string served_fingerprint(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  const std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* owned) {
    ::close(*owned);
    delete owned;
  });
  const timeval ten_seconds{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &ten_seconds, sizeof ten_seconds);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error(fmt::format("cannot connect to port {}", port));
  }
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                                  &SSL_CTX_free);
  const std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), &SSL_free);
  if (!ssl) throw std::runtime_error("SSL_new failed");
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error(fmt::format("no TLS handshake on port {}", port));
  }
  const std::unique_ptr<X509, decltype(&X509_free)> certificate(
      SSL_get1_peer_certificate(ssl.get()), &X509_free);
  if (!certificate) throw std::runtime_error("the server presented no certificate");
  std::string fingerprint = fingerprint_of(certificate.get());
  SSL_shutdown(ssl.get());
  return fingerprint;
}

}  // namespace count::test
