// Api: the clinic's local HTTP API as a plain request → response function.
// FHIR R4 REST for Patient, Encounter, Observation and Appointment under
// /fhir, plus /health and /metrics. No Beast here: the server adapts HTTP.
#pragma once

#include <memory>
#include <string>

#include "http/http_types.h"
#include "posta/base/clock.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"

namespace posta::node {

class Metrics;

struct ApiOptions {
  std::string role = "clinic";  // shown in /health
  std::string version;          // posta version, shown in /health
  std::string data_dir;         // for free-disk figures in /health
  // Absolute base for links (Location, Bundle next), e.g.
  // "http://127.0.0.1:8080". Empty: taken from the request's Host header.
  std::string base_url;
  size_t max_page_size = 1000;  // _count cap
};

// Threading: Handle may be called from many threads at once.
class Api {
 public:
  // `store`, `metrics`, `clock` and `env` are not owned and must outlive Api.
  Api(storage::RecordStore& store, Metrics& metrics, const ApiOptions& options,
      base::Clock& clock = base::SystemClock(),
      base::Env& env = base::Env::Default());
  ~Api();

  // Never throws. Every 4xx/5xx body is a FHIR OperationOutcome; a 500 body
  // says only that an internal error occurred, with an id matching the log.
  HttpResponse Handle(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace posta::node
