# Unit tests of the ingestion service's import parsers (IATI XML, AidData CSV, sector table)
# and validation helpers.
# The real-data cases read ${STP_SHARED_DATA} (set by stp_test) and skip when it is absent.
stp_test(ingestion_import_unit_test LABEL unit
  SOURCES
    unit/import_sector_avenues_test.cc
    unit/import_iati_test.cc
    unit/import_iati_files_test.cc
    unit/import_aiddata_test.cc
    unit/import_value_parsing_test.cc
    unit/ingestion_validation_test.cc
  LIBS stp_ingestion_import stp_ingestion_validation)
