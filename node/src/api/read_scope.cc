// Which records a caller may read: a hub's coordinator reads the records
// owned by the facilities of their region (and shared reference data);
// everyone else reads everything their role allows. docs/api.md ("Roles",
// "A coordinator's region").
#include <algorithm>

#include "api/handlers.h"
#include "posta/storage/replication.h"

namespace posta::node {

namespace {

bool IsCoordinator(const auth::Principal* who) {
  return who != nullptr && who->role == "coordinator";
}

}  // namespace

Result<storage::OwnerScope> ReadScope(ApiContext& ctx,
                                      const auth::Principal* who) {
  if (!IsCoordinator(who)) return storage::OwnerScope();
  // Shared reference data (Locations the hub keeps) is no facility's.
  std::vector<std::string> owners = {std::string(storage::kSharedFacility)};
  // A coordinator without a region sees no facility's records: guessing
  // "all regions" would hand every patient to a misconfigured account.
  if (who->region.empty()) return storage::OwnerScope(std::move(owners));
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> facilities,
                         ctx.store.ListFacilities());
  for (const storage::FacilityEntry& facility : facilities) {
    if (facility.region == who->region) owners.push_back(facility.id);
  }
  return storage::OwnerScope(std::move(owners));
}

bool InScope(const storage::OwnerScope& scope, std::string_view owner) {
  return !scope ||
         std::find(scope->begin(), scope->end(), owner) != scope->end();
}

Result<std::string> DescribeScope(ApiContext& ctx, const auth::Principal& who) {
  if (!IsCoordinator(&who)) return std::string("every record of this node");
  if (who.region.empty()) {
    return std::string(
        "no facility's records, only shared reference data: this "
        "coordinator has no region (add the user again with --region)");
  }
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> registered,
                         ctx.store.ListFacilities());
  std::string facilities;
  for (const storage::FacilityEntry& facility : registered) {
    if (facility.region != who.region) continue;
    if (!facilities.empty()) facilities += ", ";
    facilities += facility.id;
  }
  if (facilities.empty()) {
    return "no facility's records yet, only shared reference data: no "
           "facility is registered in region " +
           who.region + " (posta hub facility add --region " + who.region + ")";
  }
  return "records of region " + who.region + " (" + facilities +
         ") and shared reference data";
}

}  // namespace posta::node
