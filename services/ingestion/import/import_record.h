// What the bulk-import parsers hand to the ingestion service: one mapped project per source
// record, with the organisations it names kept aside so the caller can resolve them to stored
// organisations (or create them) before writing the project.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::ingestion {

using stp::common::v1::Avenue;
using stp::common::v1::PartnerRole;

// An organisation named by a source record. Participants and financial flows of the record's
// project refer to it through the placeholder PendingOrganization(k), k being its index in
// ImportRecord::organizations.
struct ImportedOrganization {
  std::string ref;   // IATI organisation identifier ("XM-DAC-41114"), may be empty
  std::string name;  // display name, may be empty (then ref is set)
  stp::ingestion::v1::OrganizationType type = stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED;
  // "countries/XX" when known (an IATI ref prefix that is an assigned ISO 3166 alpha-2 code,
  // or the AidData side the organisation is on), else "".
  std::string country;
  // The roles it plays in this record, sorted and unique: its participant roles, or FINANCIER
  // for an IATI transaction provider that is not a participant. A hint for Organization.roles
  // when the caller creates the organisation.
  std::vector<PartnerRole> roles;
};

struct ImportRecord {
  int index = 0;                        // 0-based position of the record in the stream
  std::string external_id;              // the source's id as text, for summaries
  stp::ingestion::v1::Project project;  // mapped fields; organisations as placeholders
  std::vector<ImportedOrganization> organizations;
  std::vector<std::string> warnings;         // remarks; the record is still imported
  std::string rejection;                     // non-empty: reject the record with this reason
  std::vector<std::string> rejected_fields;  // project field paths at fault, when known
  // Set by the import session, from the record as read: its first external id
  // ("source:value"), how many records of the stream so far carry that id, and a digest of
  // the record (its identity across retries).
  std::string first_external_id;
  int occurrence = 1;
  std::string fingerprint;
};

// Receives each record as soon as it is complete. Called synchronously from Feed()/Finish();
// it must not throw (the XML parser calls it from inside libxml2).
using RecordSink = std::function<void(ImportRecord)>;

// "pending:<index>": how a project refers to ImportRecord::organizations[index].
std::string PendingOrganization(int index);

}  // namespace stp::ingestion
