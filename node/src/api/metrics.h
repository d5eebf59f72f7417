// Metrics: request counters and latency histogram, rendered in Prometheus
// text format by /metrics. Threading: safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <tuple>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace posta::node {

class Metrics {
 public:
  // `route` is a pattern, never a raw path: "/fhir/{type}/{id}".
  void ObserveRequest(const std::string& method, const std::string& route,
                      int status, std::chrono::microseconds latency);

  // Appends the request metrics in Prometheus text format (with # HELP and
  // # TYPE lines).
  void Render(std::string& out) const;

 private:
  // Bucket upper bounds in seconds.
  static constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,  0.1,    0.25,  0.5,  1.0,
                                        2.5,   5.0};
  static constexpr size_t kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);
  struct Histogram {
    uint64_t counts[kBucketCount + 1] = {};  // last: +Inf
    double sum_seconds = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_by_route_;
};

}  // namespace posta::node
