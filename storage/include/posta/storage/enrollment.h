// What a hub keeps to know who may sync with it: the facilities it serves,
// one-time enrollment codes, and the nodes enrolled with a credential. The
// store keeps hashes only (it never sees a code or a credential) and knows
// nothing of how they are made or presented; sync/ does that
// (posta/sync/credentials.h). docs/storage-format.md describes the tables.
#pragma once

#include <cstdint>
#include <string>

namespace posta::storage {

struct FacilityEntry {
  std::string id;      // a facility id: 1..64 of [A-Za-z0-9._-]
  std::string name;    // for people; 1..200 bytes
  std::string region;  // optional grouping (coordinators' regions); may be ""
  int64_t created_ms = 0;
};

struct EnrollmentCode {
  std::string code_hash;  // SHA-256 (hex) of the normalized code
  std::string facility;   // the facility a node enrolled with it joins
  // For a hub node (a district hub syncing upstream): the region whose
  // facilities its credential covers besides its own; "" for a clinic.
  std::string region;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  int64_t used_ms = 0;  // 0 while unused
  std::string used_by;  // the node id that used it
};

struct EnrolledNode {
  std::string node_id;
  std::string facility;
  // "" for a clinic. For a hub node: its credential's scope is its own
  // facility and every facility registered here with this region
  // (docs/sync-protocol.md, "Tiers"). Taken from the code it enrolled with.
  std::string region;
  std::string credential_hash;  // SHA-256 (hex) of the node's credential
  int64_t enrolled_ms = 0;      // last (re-)enrollment
  int64_t revoked_ms = 0;       // 0 unless revoked
  int64_t last_seen_ms = 0;     // last authenticated hello; 0 before any
  std::string last_address;     // its remote address ("10.0.0.7:50412")
  // Set when something suggests the credential is used by two boxes (see
  // docs/sync-protocol.md, "Two boxes, one credential"); 0 and "" otherwise.
  int64_t flagged_ms = 0;
  std::string flag;
};

// Using an enrollment code: `node_id` joins the code's facility with a new
// credential. See RecordStore::RedeemEnrollmentCode.
struct Redemption {
  std::string code_hash;
  std::string node_id;
  // The facility the node is configured for; "" when it has none yet.
  std::string facility;
  std::string credential_hash;
  int64_t now_ms = 0;
  // Where the request came from, for the "enroll" audit entry written in
  // the same transaction.
  std::string remote_address;
};

}  // namespace posta::storage
