#include "api/bundle.h"

#include "api/json_util.h"

namespace posta::node {

namespace {

void AppendLinks(std::string& out, const BundleLinks& links) {
  out += ",\"link\":[{\"relation\":\"self\",\"url\":";
  out += JsonString(links.self);
  out += '}';
  if (!links.next.empty()) {
    out += ",{\"relation\":\"next\",\"url\":";
    out += JsonString(links.next);
    out += '}';
  }
  out += ']';
}

}  // namespace

std::string ResourceUrl(const std::string& base_url, storage::ResourceType type,
                        const std::string& id) {
  std::string url = base_url;
  url += "/fhir/";
  url += storage::ResourceTypeName(type);
  url += '/';
  url += id;
  return url;
}

std::string VersionTag(const base::HlcStamp& version) {
  return "W/\"" + version.ToString() + "\"";
}

std::string SearchsetBundle(const std::string& base_url,
                            const storage::SearchPage& page,
                            const BundleLinks& links) {
  std::string out = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\"";
  if (page.total) {
    out += ",\"total\":";
    out += std::to_string(*page.total);
  }
  AppendLinks(out, links);
  out += ",\"entry\":[";
  bool first = true;
  for (const storage::Record& record : page.records) {
    if (record.deleted) continue;  // storage returns live records only
    if (!first) out += ',';
    first = false;
    out += "{\"fullUrl\":";
    out += JsonString(ResourceUrl(base_url, record.type, record.id));
    out += ",\"resource\":";
    out += storage::RenderResource(record);
    out += ",\"search\":{\"mode\":\"match\"}}";
  }
  out += "]}";
  return out;
}

std::string HistoryBundle(const std::string& base_url,
                          const std::vector<storage::Record>& versions,
                          bool complete, const BundleLinks& links) {
  std::string out = "{\"resourceType\":\"Bundle\",\"type\":\"history\"";
  if (complete) {
    out += ",\"total\":";
    out += std::to_string(versions.size());
  }
  AppendLinks(out, links);
  out += ",\"entry\":[";
  for (size_t i = 0; i < versions.size(); ++i) {
    const storage::Record& record = versions[i];
    bool creation = complete && i + 1 == versions.size() && !record.deleted;
    std::string type_name(storage::ResourceTypeName(record.type));
    if (i > 0) out += ',';
    out += "{\"fullUrl\":";
    out += JsonString(ResourceUrl(base_url, record.type, record.id));
    if (!record.deleted) {
      out += ",\"resource\":";
      out += storage::RenderResource(record);
    }
    const char* method = record.deleted ? "DELETE" : creation ? "POST" : "PUT";
    std::string url = creation ? type_name : type_name + "/" + record.id;
    out += ",\"request\":{\"method\":\"";
    out += method;
    out += "\",\"url\":";
    out += JsonString(url);
    out += "},\"response\":{\"status\":\"";
    out += creation ? "201 Created" : "200 OK";
    out += "\",\"etag\":";
    out += JsonString(VersionTag(record.version));
    out += ",\"lastModified\":";
    out += JsonString(storage::FormatInstant(record.last_updated_ms));
    out += "}}";
  }
  out += "]}";
  return out;
}

}  // namespace posta::node
