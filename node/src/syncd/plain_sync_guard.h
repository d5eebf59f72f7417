// A hub's sync goes over HTTPS: records and credentials must not cross the
// network in clear. A hub without a certificate refuses every /sync/v1/*
// request, except (when the config allows it) from its own machine, where
// tests and demos run hub and clinic side by side.
#pragma once

#include <optional>

#include "http/http_types.h"
#include "posta/storage/record_store.h"

namespace posta::node {

// The 403 ErrorReply "tls_required" for a /sync/v1/* request a plain-HTTP
// hub must not serve; nullopt when the request may go on: not a sync
// request, a hub that speaks TLS, or allow_plain_http and a loopback peer.
// A refusal is a denial like any other: it is recorded in `store`'s audit
// trail (committed before the answer) when `store` is given.
std::optional<HttpResponse> PlainSyncRefusal(bool serves_tls,
                                             bool allow_plain_http,
                                             const HttpRequest& request,
                                             storage::RecordStore* store);

}  // namespace posta::node
