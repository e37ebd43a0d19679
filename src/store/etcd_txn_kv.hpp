// What a store over etcd as parts needs of etcd: general transactions, reads of several
// ranges, and leases. EtcdClientTxnKv is the real one; tests also use MemoryEtcd
// (tests/support/memory_etcd.hpp), which the same tests hold to the real one's answers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/etcd_client.hpp"

namespace count {

class EtcdTxnKv {
 public:
  virtual ~EtcdTxnKv() = default;
  virtual EtcdTransacted transact(const EtcdTransaction& transaction) = 0;
  // `at_revision`: as EtcdClient::read_ranges.
  virtual EtcdTransacted read_ranges(const std::vector<EtcdOperation>& ranges,
                                     std::int64_t at_revision = 0) = 0;
  virtual EtcdLease grant_lease(std::int64_t ttl_seconds) = 0;
  virtual EtcdLease keep_alive(std::int64_t id) = 0;
  virtual bool revoke_lease(std::int64_t id, std::string* error) = 0;
  // For messages: where etcd is.
  virtual std::string where() const = 0;
};

class EtcdClientTxnKv final : public EtcdTxnKv {
 public:
  explicit EtcdClientTxnKv(const EtcdClientOptions& options) : client_(options) {}
  EtcdTransacted transact(const EtcdTransaction& transaction) override {
    return client_.transact(transaction);
  }
  EtcdTransacted read_ranges(const std::vector<EtcdOperation>& ranges,
                             std::int64_t at_revision = 0) override {
    return client_.read_ranges(ranges, at_revision);
  }
  EtcdLease grant_lease(std::int64_t ttl_seconds) override {
    return client_.grant_lease(ttl_seconds);
  }
  EtcdLease keep_alive(std::int64_t id) override { return client_.keep_alive(id); }
  bool revoke_lease(std::int64_t id, std::string* error) override {
    return client_.revoke_lease(id, error);
  }
  std::string where() const override { return client_.target(); }

 private:
  EtcdClient client_;
};

}  // namespace count
