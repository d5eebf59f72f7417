// FHIR Bundles (searchset, history) as JSON text. Each entry's resource is
// spliced in as rendered by storage::RenderResource, not re-parsed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/storage/record.h"
#include "posta/storage/record_store.h"

namespace posta::node {

// base_url + "/fhir/<Type>/<id>".
std::string ResourceUrl(const std::string& base_url, storage::ResourceType type,
                        const std::string& id);
// The ETag for a version: W/"<versionId>".
std::string VersionTag(const base::HlcStamp& version);

struct BundleLinks {
  std::string self;
  std::string next;  // left out when empty
};

// type "searchset": total (when known), links, one entry per record with
// fullUrl, resource and search.mode "match".
std::string SearchsetBundle(const std::string& base_url,
                            const storage::SearchPage& page,
                            const BundleLinks& links);

// type "history", newest version first. Each entry: fullUrl; resource
// (absent for a deletion); request {method, url}; response {status, etag,
// lastModified}. `complete` says `versions` holds the record's whole
// history: then the oldest entry is its creation (POST, 201) and total is
// set.
std::string HistoryBundle(const std::string& base_url,
                          const std::vector<storage::Record>& versions,
                          bool complete, const BundleLinks& links);

}  // namespace posta::node
