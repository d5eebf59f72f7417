// HubService: the hub's side of the sync protocol (docs/sync-protocol.md) as
// plain request → response functions over encoded messages. node/ adapts
// HTTP to Handle; nothing here knows of sockets.
//
// The hub keeps, per clinic (a peer in the store): its facility, the highest
// sequence of the clinic's change log applied here (`received_seq`, where
// the clinic's next push starts), and the clinic's pull cursor as last
// acknowledged (`acked_seq`).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "posta/base/clock.h"
#include "posta/storage/record_store.h"
#include "posta/sync/wire.h"

namespace posta::sync {

struct HubOptions {
  // Largest push batch a clinic may send, before compression, and largest
  // pull batch the hub sends. Default: 4 MiB.
  size_t max_batch_bytes = size_t{4} << 20;
  // A clinic whose wall clock is further ahead than this is refused at the
  // handshake; a stamp further ahead is flagged and cannot win merges.
  // Default: 24 h.
  std::chrono::milliseconds max_clock_skew = std::chrono::hours(24);
  WireLimits limits;
  // This hub's software version, for logs.
  std::string software;
};

struct SyncReply {
  int status = 200;
  std::string content_type;  // kContentType
  std::string body;          // an encoded message (ErrorReply unless 200)
};

// What a hub counts, for /metrics.
struct HubCounters {
  int64_t hellos = 0;
  int64_t push_batches = 0;
  int64_t push_records = 0;
  int64_t pull_batches = 0;
  int64_t pull_records = 0;
  int64_t conflicts = 0;
  int64_t refused = 0;  // answers other than 200
};

// Threading: Handle may be called from many threads at once; the store
// serializes the writes.
class HubService {
 public:
  // `store` and `clock` are not owned and must outlive the service.
  HubService(storage::RecordStore& store, base::Clock& clock,
             HubOptions options = {});
  ~HubService();

  // op: "hello", "push" or "pull"; body: the encoded request.
  //   200: the encoded reply (HelloReply, PushAck, PullBatch).
  //   400 bad_batch: undecodable or invalid input (nothing stored);
  //   403 scope: a record of another facility;
  //   409 version_mismatch, clock_skew, hello_first, gap;
  //   404 unknown op; 413 too_large; 500 internal (retry later).
  // Every non-200 body is an encoded ErrorReply naming the problem.
  SyncReply Handle(std::string_view op, std::string_view body);

  HubCounters counters() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace posta::sync
