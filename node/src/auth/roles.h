// Who may do what through the local API. A role grants read or write on
// areas: a FHIR resource type ("Patient"), "$transfer", "conflicts", "audit",
// "metrics" and "metadata". docs/api.md ("Roles") has the table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"

namespace posta::node::auth {

enum class Access { kRead, kWrite };

// The user a request was authenticated as; travels with the request to the
// handlers (the seam where "who did what" is recorded).
struct Principal {
  std::string user;
  std::string role;
  std::string region;  // a coordinator's region; "" otherwise
};

// The roles a node of `node_role` ("clinic" or "hub") has: clinic:
// registrar, clinician, admin; hub: coordinator, admin.
std::vector<std::string_view> RolesFor(std::string_view node_role);

// OK when `role` exists on a node of `node_role`; InvalidArgument naming
// the role and the valid ones otherwise.
Status CheckRoleForNode(std::string_view role, std::string_view node_role);

// OK when `role` may have `access` to `area`; PermissionDenied naming the
// role, what was refused and what the role may do otherwise.
Status Authorize(std::string_view role, std::string_view area, Access access);

// What `role` may do, for people: "may read and write Patient, Appointment;
// read Location, metadata".
std::string DescribeRole(std::string_view role);

}  // namespace posta::node::auth
