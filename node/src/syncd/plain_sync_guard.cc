#include "syncd/plain_sync_guard.h"

#include <spdlog/spdlog.h>

#include "http/tls.h"
#include "posta/sync/messages.h"
#include "posta/sync/wire.h"

namespace posta::node {

std::optional<HttpResponse> PlainSyncRefusal(bool serves_tls,
                                             bool allow_plain_http,
                                             const HttpRequest& request,
                                             storage::RecordStore* store) {
  if (serves_tls) return std::nullopt;
  const std::string_view target = request.target;
  if (target.rfind("/sync/v1/", 0) != 0) return std::nullopt;
  const bool loopback = IsLoopbackPeer(request.remote_address);
  if (allow_plain_http && loopback) return std::nullopt;

  sync::ErrorReply error;
  error.code = std::string(sync::kErrorTlsRequired);
  if (allow_plain_http) {
    error.message =
        "this hub has no TLS certificate and takes plain-HTTP sync only from "
        "its own machine (allow_plain_http); the hub's administrator runs "
        "posta hub tls init, then clinics enroll with the printed --pin";
  } else {
    error.message =
        "this hub has no TLS certificate and refuses sync over plain HTTP; "
        "the hub's administrator runs posta hub tls init (or, for a test on "
        "one machine, sets [sync] allow_plain_http = true)";
  }
  spdlog::warn("sync: refused plain-HTTP {} from {}: no TLS certificate",
               target.substr(0, 64), request.remote_address);
  if (store != nullptr) {
    storage::AuditEvent event;
    event.who.actor = "anonymous";
    event.who.remote_address = request.remote_address;
    event.action = "denied";
    event.outcome = "denied";
    event.resource = "sync";
    event.detail = "403 " + error.code + ": plain-HTTP " +
                   std::string(target.substr(0, 64)) + " refused; " +
                   error.message;
    if (Status s =
            store->AppendAudit(event, storage::AuditDurability::kCommitted);
        !s.ok()) {
      spdlog::error("audit: could not record a plain-HTTP sync refusal: {}",
                    s.ToString());
    }
  }
  HttpResponse response;
  response.status = 403;
  response.content_type = std::string(sync::kContentType);
  response.body = sync::Encode(error);
  return response;
}

}  // namespace posta::node
