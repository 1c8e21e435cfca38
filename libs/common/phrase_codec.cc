#include "libs/common/phrase_codec.h"

#include <zstd.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stp::common {
namespace {

constexpr char kFormatV1 = '\x01';
// Level -1, a fast level: on a 1.6 KB score it packs as small as level 1 (to 40 %) in half the
// time (3.5 µs against 7); level 3 is 3 % smaller and as slow as level 1.
constexpr int kLevel = -1;
// Far above any score or event (a few KB); a frame claiming more is not ours.
constexpr unsigned long long kMaxBytes = 16 << 20;

// Dictionary 1: the phrases the default model's reasons are made of, resource name prefixes
// and labels, as raw content (zstd matches any substring of it). FROZEN: values packed with
// it must unpack forever. Do not edit; add a dictionary 2 with a format byte of its own.
constexpr char kDictionaryV1[] =
    "projects/\n"
    "countries/\n"
    "organizations/\n"
    "parks/\n"
    "lower-middle income\n"
    "upper-middle income\n"
    "high income\n"
    "low income\n"
    "(70/100)\n"
    "moderately\n"
    "well\n"
    "poorly\n"
    " is \n"
    "no technology partner is named: name the lead technology partner so that the \n"
    "development gap to the host can be measured\n"
    "the technology partner \n"
    " is not in the registry, so its country's income level is \n"
    "unknown\n"
    " belongs to no single country, so the development gap \n"
    "cannot be measured\n"
    "the income group of the technology partner's country (\n"
    ") is not recorded\n"
    "the income group of the host country (\n"
    "the technology partner's country (\n"
    "the host (\n"
    " income \n"
    "group\n"
    "groups\n"
    " is one income group above \n"
    ": close enough for the host to absorb what is transferred\n"
    " is at the income level of \n"
    ": what it transfers is easy to absorb but adds less new \n"
    "capability than a partner one step ahead\n"
    " below \n"
    ": it has little to transfer that the host does not already \n"
    "have\n"
    " above \n"
    ": the wider gap makes what is transferred harder to absorb\n"
    " and no bridging partner takes part: add a partner from a country in between, \n"
    "whose experience is closer to what the host can absorb\n"
    ", and \n"
    " from \n"
    ") bridges the gap\n"
    "the project names no avenue, so its fit with the host cannot be judged\n"
    " is not recorded\n"
    "the income group is not recorded\n"
    " suits \n"
    "/100): \n"
    "how \n"
    " cannot be judged: \n"
    " takes part as triangular partner\n"
    ", a multilateral organisation,\n"
    ", a multinational company,\n"
    ", a high-income country,\n"
    " takes part as a third party\n"
    " takes part, but the income group of the host country (\n"
    ") is not recorded, so whether it is a triangular third \n"
    "party cannot be judged\n"
    "the project is declared triangular, but its third party is not among the participants: \n"
    "add the Northern partner, multilateral body or multinational\n"
    "no triangular partner (a Northern country, a multilateral body or a multinational \n"
    "company) takes part\n"
    ", a development finance institution, co-finances the project\n"
    ", a development finance institution, has \n"
    " funds\n"
    "committed\n"
    "disbursed\n"
    "no development finance institution co-finances the project: a DFI brings long-term \n"
    "money that other financiers follow\n"
    "the host government takes part (\n"
    "the host government does not take part: parks depend on its land, permits and policy \n"
    "support\n"
    "the park \n"
    " is a member of IASP\n"
    "the park operator \n"
    " is a member of IASP, but no IASP-member park operator takes part\n"
    "neither the park nor any participant is a member of IASP, \n"
    "the International Association of Science Parks and Areas \n"
    "of Innovation\n"
    "the project names no participating organisations\n"
    " of \n"
    "participating organisation\n"
    "participating organisations\n"
    " is\n"
    " are\n"
    " not in the registry\n"
    "no currency\n"
    "no budget is recorded: record it so that commitments can be compared with it\n"
    "no financier has committed funds\n"
    "no commitment is recorded in \n"
    ", the budget's currency: record the flows in \n"
    " or the budget in theirs, so that they can be compared\n"
    "no financier has committed funds yet\n"
    " of the budget (\n"
    ") is committed (\n"
    " is committed; without a budget its coverage is taken as \n"
    "more has been disbursed than committed: the disbursements are counted as committed\n"
    "no disbursement is recorded in \n"
    ", the currency of the \n"
    " committed: record disbursements in \n"
    " so that they can be compared\n"
    "nothing has been disbursed yet of the \n"
    " committed\n"
    " of the committed funds have been disbursed\n"
    "no commitment or disbursement names the organisation it comes from\n"
    "distinct source funds\n"
    "distinct sources fund\n"
    " the project: more sources would spread the risk\n"
    " the project\n"
    "flow\n"
    "flows\n"
    " in \n"
    " was\n"
    " were\n"
    " left out of the amounts because \n"
    "the budget is in \n"
    "amounts are compared in the first flow's currency, \n"
    "milestone\n"
    "milestones\n"
    " overdue\n"
    " reached after the due date\n"
    "the one milestone is\n"
    "both milestones are\n"
    "all \n"
    " milestones are\n"
    " done on time or on track\n"
    "no milestone with a due date is recorded\n"
    "milestone has\n"
    "milestones have\n"
    " no due date and cannot be judged\n"
    "results have reached \n"
    " of their targets on average (\n"
    "result with a reported value\n"
    "results with reported values\n"
    "no result has a reported actual value yet\n"
    "the project's stage is not recorded\n"
    "the project is \n"
    ", so its execution counts at \n"
    "does not apply: the project has neither the e-commerce nor the \n"
    "e-manufacturing avenue\n"
    "the digital readiness of \n"
    " prepared for the digital avenues (\n"
    "plan connectivity and digital skills alongside the digital avenue\n"
    "Development gap between the lead technology partner's country and the host, in World \n"
    "Bank income-group steps (New Structural Economics): one step above the host is best, \n"
    "the same level good, two steps weaker; three steps absorb poorly unless a partner from \n"
    "an intermediate income level bridges the gap; a partner below the host is weak.\n"
    "How each of the project's avenues suits the host's endowment: its income group and the \n"
    "newest value of the indicators that matter for the avenue (agriculture share of GDP, \n"
    "internet use, manufacturing share, R&D spending, GDP per head); the mean over avenues.\n"
    "A triangular partner (Northern country, multilateral body or multinational), a \n"
    "development finance institution as co-financier, the host government's participation \n"
    "and IASP membership of the park or its operator.\n"
    "Money committed against the budget, disbursed against committed, and the number of \n"
    "distinct sources; amounts are compared in the budget's currency only.\n"
    "Milestones on time against overdue, results reached against their targets, and the \n"
    "project's stage; suspension and cancellation scale the whole component down.\n"
    "Internet use and income group of the host; applies only to projects with the \n"
    "e-commerce or e-manufacturing avenue.\n"
    "e-commerce\n"
    "e-manufacturing\n"
    "public health\n"
    "green growth\n"
    "agricultural development\n"
    "an unspecified avenue\n"
    "technology partner\n"
    "financier\n"
    "triangular partner\n"
    "anchor tenant\n"
    "park operator\n"
    "host government\n"
    "research partner\n"
    "implementer\n"
    "accountable organisation\n"
    "no particular role\n"
    "low income\n"
    "lower-middle income\n"
    "upper-middle income\n"
    "high income\n"
    "unknown income group\n"
    "government\n"
    "local government\n"
    "multilateral body\n"
    "academic or research institution\n"
    "development finance institution\n"
    "multinational company\n"
    "foundation\n"
    "organisation\n"
    "proposed\n"
    "approved\n"
    "financed\n"
    "in implementation\n"
    "completed\n"
    "suspended\n"
    "cancelled\n"
    "at an unknown stage\n";

struct Dictionaries {
  ZSTD_CDict* compress;
  ZSTD_DDict* decompress;
};

const Dictionaries& V1() {
  static const Dictionaries* d =
      new Dictionaries{ZSTD_createCDict(kDictionaryV1, sizeof(kDictionaryV1) - 1, kLevel),
                       ZSTD_createDDict(kDictionaryV1, sizeof(kDictionaryV1) - 1)};
  return *d;
}

// A context per thread: contexts are not thread-safe, dictionaries are. The compression
// context holds dictionary 1 and a checksum of the content in every frame, so that a damaged
// value is refused rather than read as a different score.
ZSTD_CCtx* CompressContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(
      [] {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        if (c == nullptr || V1().compress == nullptr ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
            ZSTD_isError(ZSTD_CCtx_refCDict(c, V1().compress))) {
          ZSTD_freeCCtx(c);
          return static_cast<ZSTD_CCtx*>(nullptr);
        }
        return c;
      }(),
      ZSTD_freeCCtx);
  return ctx.get();
}

ZSTD_DCtx* DecompressContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(),
                                                                      ZSTD_freeDCtx);
  return ctx.get();
}

}  // namespace

absl::string_view PhraseDictionaryV1() {
  return absl::string_view(kDictionaryV1, sizeof(kDictionaryV1) - 1);
}

std::string PackPhrases(absl::string_view serialized) {
  ZSTD_CCtx* ctx = CompressContext();
  if (ctx == nullptr) return std::string(serialized);
  std::string out(1 + ZSTD_compressBound(serialized.size()), '\0');
  out[0] = kFormatV1;
  const size_t n =
      ZSTD_compress2(ctx, out.data() + 1, out.size() - 1, serialized.data(), serialized.size());
  if (ZSTD_isError(n)) return std::string(serialized);
  out.resize(1 + n);
  return out;
}

bool IsPacked(absl::string_view value) { return !value.empty() && value[0] == kFormatV1; }

absl::StatusOr<std::string> UnpackPhrases(absl::string_view value) {
  if (!IsPacked(value)) return std::string(value);
  const absl::string_view frame = value.substr(1);
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  // What is packed is never empty (a score names its project, an event its resource); size 0
  // is a damaged or foreign frame.
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size == 0 ||
      size > kMaxBytes) {
    return absl::DataLossError("a packed value is not a readable frame");
  }
  const Dictionaries& dict = V1();
  ZSTD_DCtx* ctx = DecompressContext();
  if (dict.decompress == nullptr || ctx == nullptr) {
    return absl::ResourceExhaustedError("no memory to unpack a packed value");
  }
  std::string out(size, '\0');
  const size_t n = ZSTD_decompress_usingDDict(ctx, out.data(), out.size(), frame.data(),
                                              frame.size(), dict.decompress);
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(
        absl::StrCat("a packed value does not unpack: ",
                     ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return out;
}

}  // namespace stp::common
