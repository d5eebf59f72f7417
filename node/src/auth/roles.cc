#include "auth/roles.h"

#include <span>

namespace posta::node::auth {
namespace {

struct Grant {
  std::string_view area;  // "*" for every area
  bool write;             // read is always granted with a grant
};

// Registrars keep the register (who the patients are, when they come);
// clinicians every clinical record and the conflicts sync sets aside;
// admins everything, the audit trail ("audit") included; a hub's
// coordinators read everything (the audit trail only for their region's
// facilities: ScopeAuditFilter) and write nothing. Registrars and
// clinicians never read the audit trail.
constexpr Grant kRegistrar[] = {{"Patient", true},
                                {"Appointment", true},
                                {"Location", false},
                                {"metadata", false}};
constexpr Grant kClinician[] = {{"Patient", true},     {"Encounter", true},
                                {"Observation", true}, {"Appointment", true},
                                {"$transfer", true},   {"conflicts", true},
                                {"Location", false},   {"metadata", false}};
constexpr Grant kAdmin[] = {{"*", true}};
constexpr Grant kCoordinator[] = {{"*", false}};

std::span<const Grant> GrantsOf(std::string_view role) {
  if (role == "registrar") return kRegistrar;
  if (role == "clinician") return kClinician;
  if (role == "admin") return kAdmin;
  if (role == "coordinator") return kCoordinator;
  return {};
}

std::string Join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

}  // namespace

std::vector<std::string_view> RolesFor(std::string_view node_role) {
  if (node_role == "hub") return {"coordinator", "admin"};
  return {"registrar", "clinician", "admin"};
}

Status CheckRoleForNode(std::string_view role, std::string_view node_role) {
  for (std::string_view r : RolesFor(node_role)) {
    if (r == role) return Status::Ok();
  }
  return Status::InvalidArgument(
      "role \"" + std::string(role.substr(0, 32)) + "\"",
      "not a role on a " + std::string(node_role) + "; use one of " +
          Join(RolesFor(node_role)));
}

Status Authorize(std::string_view role, std::string_view area, Access access) {
  for (const Grant& g : GrantsOf(role)) {
    if (g.area != "*" && g.area != area) continue;
    if (access == Access::kRead || g.write) return Status::Ok();
  }
  const std::string verb = access == Access::kRead ? "read" : "write";
  return Status::PermissionDenied("role " + std::string(role.substr(0, 32)),
                                  "may not " + verb + " " + std::string(area) +
                                      "; a " + std::string(role.substr(0, 32)) +
                                      " " + DescribeRole(role));
}

std::string DescribeRole(std::string_view role) {
  std::vector<std::string_view> rw;
  std::vector<std::string_view> ro;
  for (const Grant& g : GrantsOf(role)) {
    (g.write ? rw : ro).push_back(g.area == "*" ? "everything" : g.area);
  }
  if (rw.empty() && ro.empty()) return "may do nothing";
  std::string out = "may";
  if (!rw.empty()) out += " read and write " + Join(rw);
  if (!ro.empty())
    out += std::string(rw.empty() ? "" : ";") + " read " + Join(ro);
  return out;
}

}  // namespace posta::node::auth
