// The organisations one import record names: how they are told apart (identifier, else
// normalised name), what can be read from their names and identifiers, and the list a
// record's placeholders point into.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"
#include "services/ingestion/import/import_record.h"

namespace stp::ingestion {

// Lower case, Latin-1 accents folded ("Développement" -> "developpement"), every run of ASCII
// punctuation or whitespace turned into one space, trimmed. Two names that normalise alike
// are the same organisation within a record.
std::string NormalizeOrganizationName(absl::string_view name);

// True when the name says the organisation is a development finance institution. The source
// files have no such type, so the name is the evidence: "Development Bank", "Export-Import
// Bank", "Exim Bank"/"Eximbank", "Investment Bank", "Development Fund", "Finance
// Corporation", and the French, Spanish and Portuguese forms "Banque ... de Développement",
// "Banco ... de Desarrollo", "Banco ... de Desenvolvimento". Whole words, any case.
bool LooksLikeDevelopmentFinanceInstitution(absl::string_view name);

// "countries/XX" when the IATI organisation identifier starts with an assigned ISO 3166
// alpha-2 code and a dash ("GB-COH-123" -> "countries/GB"); "" for "XM-DAC-41114", "41114"...
std::string CountryFromOrganizationRef(absl::string_view ref);

// Adds `role` to `roles`, kept sorted and without repeats.
void AddRole(std::vector<PartnerRole>* roles, PartnerRole role);

// The organisations of one record, each once.
class RecordOrganizations {
 public:
  // Index of the organisation with this ref (when both are non-empty) or this normalised name
  // (when both are non-empty); -1 when there is none.
  int Find(absl::string_view ref, absl::string_view name) const;

  // Adds `organization`, or merges it into the one Find() returns: fields still empty there
  // are filled from it and the roles are united. Returns the index.
  int Add(ImportedOrganization organization);

  // Records that organisation `index` plays `role`.
  void AddRole(int index, PartnerRole role);

  const ImportedOrganization& at(int index) const { return organizations_[index]; }
  int size() const { return static_cast<int>(organizations_.size()); }

  std::vector<ImportedOrganization> Release() && { return std::move(organizations_); }

 private:
  std::vector<ImportedOrganization> organizations_;
  // Lookups for Find(); the first organisation with a ref or name keeps it.
  std::unordered_map<std::string, int> index_by_ref_;
  std::unordered_map<std::string, int> index_by_normalized_name_;
};

}  // namespace stp::ingestion
