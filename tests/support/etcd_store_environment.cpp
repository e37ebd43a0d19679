// With COUNT_TEST_STORE=etcd, the end-to-end tests that start a server in memory start it
// over one real three-member etcd cluster instead, each server on a key of its own: the
// acceptance tests of one server, run again on a front end of the etcd store.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string_view>

#include "support/etcd_cluster.hpp"
#include "support/process.hpp"

namespace count::test {
namespace {

class EtcdStoreEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    cluster_ = std::make_unique<EtcdCluster>();
    use_etcd_instead_of_memory(cluster_->endpoints());
  }
  void TearDown() override { cluster_.reset(); }

 private:
  std::unique_ptr<EtcdCluster> cluster_;
};

const bool registered = [] {
  const char* store = std::getenv("COUNT_TEST_STORE");
  if (store != nullptr && std::string_view(store) == "etcd") {
    ::testing::AddGlobalTestEnvironment(new EtcdStoreEnvironment);  // gtest owns it
  }
  return true;
}();

}  // namespace
}  // namespace count::test
