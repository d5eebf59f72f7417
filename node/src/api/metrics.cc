#include "api/metrics.h"

#include <cstdio>

namespace posta::node {

namespace {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatDouble(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

}  // namespace

void Metrics::ObserveRequest(const std::string& method,
                             const std::string& route, int status,
                             std::chrono::microseconds latency) {
  double seconds = static_cast<double>(latency.count()) / 1e6;
  if (seconds < 0) seconds = 0;
  size_t bucket = kBucketCount;  // +Inf
  for (size_t i = 0; i < kBucketCount; ++i) {
    if (seconds <= kBuckets[i]) {
      bucket = i;
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{method, route, status}];
  Histogram& histogram = latency_by_route_[route];
  ++histogram.counts[bucket];
  histogram.sum_seconds += seconds;
  ++histogram.count;
}

void Metrics::Render(std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  out +=
      "# HELP posta_http_requests_total HTTP requests answered, by method, "
      "route pattern and status code.\n"
      "# TYPE posta_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [method, route, status] = key;
    out += "posta_http_requests_total{method=\"" + EscapeLabel(method) +
           "\",route=\"" + EscapeLabel(route) + "\",code=\"" +
           std::to_string(status) + "\"} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP posta_http_request_duration_seconds Time to answer a request, "
      "by route pattern.\n"
      "# TYPE posta_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_by_route_) {
    std::string label = "route=\"" + EscapeLabel(route) + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= kBucketCount; ++i) {
      cumulative += histogram.counts[i];
      std::string le = i < kBucketCount ? FormatDouble(kBuckets[i]) : "+Inf";
      out += "posta_http_request_duration_seconds_bucket{" + label +
             ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "posta_http_request_duration_seconds_sum{" + label + "} " +
           FormatDouble(histogram.sum_seconds) + "\n";
    out += "posta_http_request_duration_seconds_count{" + label + "} " +
           std::to_string(histogram.count) + "\n";
  }
}

}  // namespace posta::node
