// One IATI activity as the streaming parser keeps it (a small element tree, freed after
// mapping), and the mapping from that tree to an ImportRecord (SPEC §5.1).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "services/ingestion/import/import_record.h"
#include "services/ingestion/import/sector_avenues.h"

namespace stp::ingestion {

// An XML element. Names are local names; an element or attribute written with a namespace
// prefix keeps it ("dstore:dataset", "xml:lang") so that extensions never pass for IATI.
struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // character data directly inside, concatenated
  std::vector<std::unique_ptr<XmlElement>> children;

  // The attribute's value, "" when absent.
  absl::string_view Attribute(absl::string_view attribute_name) const;
  bool HasAttribute(absl::string_view attribute_name) const;
  // The first child with this name, or nullptr.
  const XmlElement* Child(absl::string_view child_name) const;
  // Every child with this name, in document order.
  std::vector<const XmlElement*> Children(absl::string_view child_name) const;
};

// What a mapped activity needs to know about its file.
struct IatiFileInfo {
  std::string version;  // iati-activities/@version, "" when absent
  bool legacy = false;  // a 1.x file
};

// Maps iati-activity elements to records. Stateless apart from its configuration.
class IatiActivityMapper {
 public:
  IatiActivityMapper(SectorAvenueTable table, IatiFileInfo file)
      : table_(std::move(table)), file_(std::move(file)) {}

  // Every problem of the activity ends up in the record (warnings, rejection); mapping itself
  // never fails.
  ImportRecord Map(const XmlElement& activity, int index) const;

  const IatiFileInfo& file() const { return file_; }
  void set_file(IatiFileInfo file) { file_ = std::move(file); }

 private:
  SectorAvenueTable table_;
  IatiFileInfo file_;
};

}  // namespace stp::ingestion
