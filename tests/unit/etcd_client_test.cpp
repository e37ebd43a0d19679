// The etcd client's parts that need no cluster: endpoint lists into gRPC targets, with a
// clear error for each bad one, and the counter's encoding in the value key. No process is
// started and no connection made here.
#include "store/etcd_client.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace count {
namespace {

// The message of the EtcdConfigError that `endpoints` raises, or "" when none does.
std::string config_error(const std::string& endpoints) {
  try {
    etcd_grpc_target(endpoints);
  } catch (const EtcdConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(EtcdEndpoints, BecomeOneIpv4TargetInTheirOrder) {
  EXPECT_EQ(etcd_grpc_target("http://127.0.0.1:2379,http://127.0.0.1:22379"),
            "ipv4:127.0.0.1:2379,127.0.0.1:22379");
  EXPECT_EQ(etcd_grpc_target("127.0.0.1:2379"), "ipv4:127.0.0.1:2379");
  EXPECT_EQ(etcd_grpc_target("http://10.0.0.2:2379/,http://10.0.0.1:2379"),
            "ipv4:10.0.0.2:2379,10.0.0.1:2379");
  EXPECT_EQ(etcd_grpc_target("http://localhost:2379"), "ipv4:127.0.0.1:2379");
}

TEST(EtcdEndpoints, BracketedIpv6BecomeAnIpv6Target) {
  EXPECT_EQ(etcd_grpc_target("http://[::1]:2379,http://[fe80::1]:2380"),
            "ipv6:[::1]:2379,[fe80::1]:2380");
}

TEST(EtcdEndpoints, EachBadEndpointNamesItselfAndWhatIsWrong) {
  const struct {
    const char* endpoints;
    const char* message;
  } cases[] = {
      {"", "an endpoint is empty"},
      {"http://127.0.0.1:2379,", "an endpoint is empty"},
      {"https://127.0.0.1:2379", "https is not supported"},
      {"grpc://127.0.0.1:2379", "the scheme must be http://"},
      {"http://127.0.0.1", "missing :PORT"},
      {"http://127.0.0.1:", "is not a port"},
      {"http://127.0.0.1:0", "is not a port"},
      {"http://127.0.0.1:65536", "is not a port"},
      {"http://127.0.0.1:23x9", "is not a port"},
      {"http://127.0.0.1:2379/v3", "a path is not allowed"},
      {"http://etcd.example:2379", "\"etcd.example\" is not an IPv4 address"},
      {"http://127.0.0.256:2379", "is not an IPv4 address"},
      {"http://[::1:2379", "missing ']'"},
      {"http://[::1]", "missing :PORT"},
      {"http://[zz::1]:2379", "is not an IPv6 address"},
      {"http://127.0.0.1:2379,http://[::1]:2379", "cannot be mixed"},
      {"http://127.0.0.1:2379,127.0.0.1:2379", "listed twice"},
  };
  for (const auto& c : cases) {
    const std::string message = config_error(c.endpoints);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "endpoints \"" << c.endpoints << "\" gave \"" << message << "\"";
  }
  EXPECT_EQ(config_error("http://127.0.0.1:2379,http://127.0.0.1:99999"),
            "etcd endpoint \"http://127.0.0.1:99999\": \"99999\" is not a port (1 to 65535)");
}

TEST(EtcdEndpoints, ABadEndpointStopsTheClientBeforeAnyConnection) {
  EXPECT_THROW(EtcdClient({.endpoints = "http://127.0.0.1:2379,https://127.0.0.1:2380"}),
               EtcdConfigError);
}

TEST(CounterEncoding, IsTheDecimalTextBothWays) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t value :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-42}, kMin, kMax}) {
    EXPECT_EQ(decode_counter(encode_counter(value)), value);
  }
  EXPECT_EQ(encode_counter(-42), "-42");
  EXPECT_EQ(encode_counter(kMin), "-9223372036854775808");
}

TEST(CounterEncoding, RefusesEveryOtherSpellingAsNotOurs) {
  for (const char* bytes : {"", "+1", "007", "-0", " 1", "1 ", "1\n", "0x10", "1e3", "-",
                            "9223372036854775808", "-9223372036854775809", "hello"}) {
    EXPECT_EQ(decode_counter(bytes), std::nullopt) << '"' << bytes << '"';
  }
  EXPECT_EQ(decode_counter(std::string("1\0", 2)), std::nullopt);
}

TEST(EtcdPrefixEnd, IsThePrefixWithItsLastByteBelow0xffIncreased) {
  EXPECT_EQ(etcd_prefix_end("count/part/"), "count/part0");
  EXPECT_EQ(etcd_prefix_end("a"), "b");
  EXPECT_EQ(etcd_prefix_end("a\xff"), "b");
  EXPECT_EQ(etcd_prefix_end("a\xfe\xff\xff"), "a\xff");
  // Every key: etcd's "\0" range end.
  EXPECT_EQ(etcd_prefix_end("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(etcd_prefix_end(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace count
