#include <gtest/gtest.h>
#ifdef STP_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "libs/common/event_header.h"
#include "libs/common/ids.h"
#include "libs/common/phrase_codec.h"
#include "libs/common/principal.h"
#include "libs/common/proto_time.h"
#include "libs/common/server.h"
#include "libs/common/stop_flag.h"
#include "libs/common/worker_pool.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/streams.h"
#include "libs/runtime/allocator.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/resources.pb.h"
#include "stp/scoring/v1/score.pb.h"

namespace stp {
namespace {

namespace iv1 = stp::ingestion::v1;

TEST(SerializedAccessTest, ReadsVisibilityAndTheNamedOrganizationsOnly) {
  iv1::Project p;
  p.set_name("projects/p1");
  p.set_title("organizations/c");  // a name elsewhere in the message does not count
  p.set_visibility(iv1::VISIBILITY_PARTICIPANTS);
  auto* a = p.add_participants();
  a->set_organization("organizations/a");
  a->set_display_name("organizations/b");  // nor does one in another field of a participant
  p.add_participants()->set_organization("organizations/c");
  const std::string bytes = p.SerializeAsString();
  const std::initializer_list<int> path = {iv1::Project::kParticipantsFieldNumber,
                                           iv1::Participant::kOrganizationFieldNumber};
  auto sees = [&](const std::string& org) {
    auto access = ReadSerializedAccess(bytes, iv1::Project::kVisibilityFieldNumber, path, org);
    EXPECT_TRUE(access.has_value());
    EXPECT_EQ(access->visibility, iv1::VISIBILITY_PARTICIPANTS);
    return access->names_organization;
  };
  EXPECT_TRUE(sees("organizations/a"));
  EXPECT_TRUE(sees("organizations/c"));
  EXPECT_FALSE(sees("organizations/b"));
  EXPECT_FALSE(sees(""));

  p.set_visibility(iv1::VISIBILITY_PUBLIC);
  auto open = ReadSerializedAccess(p.SerializeAsString(), iv1::Project::kVisibilityFieldNumber,
                                   path, "organizations/x");
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->visibility, iv1::VISIBILITY_PUBLIC);

  // A repeated string field, as a score names its project's participants.
  stp::scoring::v1::Score score;
  score.set_visibility(iv1::VISIBILITY_PARTICIPANTS);
  score.add_participant_organizations("organizations/a");
  auto scored = ReadSerializedAccess(
      score.SerializeAsString(), stp::scoring::v1::Score::kVisibilityFieldNumber,
      {stp::scoring::v1::Score::kParticipantOrganizationsFieldNumber}, "organizations/a");
  ASSERT_TRUE(scored.has_value());
  EXPECT_TRUE(scored->names_organization);

  // A participant whose organisation comes twice is, as the parser reads it, the last one.
  iv1::Participant first, last;
  first.set_organization("organizations/b");
  last.set_organization("organizations/a");
  const std::string twice = first.SerializeAsString() + last.SerializeAsString();
  iv1::Project hidden;
  hidden.set_visibility(iv1::VISIBILITY_PARTICIPANTS);
  std::string merged = hidden.SerializeAsString();
  merged += static_cast<char>((iv1::Project::kParticipantsFieldNumber << 3) | 2);
  merged += static_cast<char>(twice.size());
  merged += twice;
  ASSERT_TRUE(hidden.ParseFromString(merged));
  ASSERT_EQ(hidden.participants(0).organization(), "organizations/a");
  for (const std::string org : {"organizations/a", "organizations/b"}) {
    auto access = ReadSerializedAccess(merged, iv1::Project::kVisibilityFieldNumber, path, org);
    ASSERT_TRUE(access.has_value());
    EXPECT_EQ(access->names_organization, org == hidden.participants(0).organization()) << org;
  }

  // Bytes that are not a message.
  // Cut inside a participant's organisation.
  const size_t inside = bytes.find("organizations/c", bytes.find("organizations/c") + 1) + 5;
  EXPECT_FALSE(ReadSerializedAccess(bytes.substr(0, inside), iv1::Project::kVisibilityFieldNumber,
                                    path, "organizations/a")
                   .has_value());
  EXPECT_FALSE(ReadSerializedAccess("\xff\xff\xff", iv1::Project::kVisibilityFieldNumber, path, "")
                   .has_value());
}

TEST(IdsTest, ResourceIdsSortByCreationTimeAndAreUnique) {
  absl::Time t = absl::FromUnixMillis(1700000000000);
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewResourceId(t + absl::Milliseconds(i));
    EXPECT_TRUE(IsResourceId(id)) << id;
    EXPECT_GT(id, prev);
    prev = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(IsResourceId("short"));
  EXPECT_FALSE(IsResourceId("ABCDEFGHIJKLMNOP"));
}

// A batch of creates reads the clock once: its ids share a millisecond, and must not meet.
TEST(IdsTest, ResourceIdsOfOneMillisecondOrABackwardClockNeverRepeat) {
  absl::Time t = absl::FromUnixMillis(1800000000000);
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 200000; ++i) {
    std::string id = NewResourceId(i < 150000 ? t : t - absl::Seconds(1));
    ASSERT_GT(id, prev);
    prev = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200000u);
  EXPECT_TRUE(IsResourceId(prev)) << prev;
  // A later millisecond starts afresh, at its own time.
  std::string later = NewResourceId(t + absl::Seconds(1));
  EXPECT_EQ(later.substr(0, 10), NewResourceId(t + absl::Seconds(1)).substr(0, 10));
  EXPECT_GT(later, prev);
}

TEST(IdsTest, StableHashIsStable) {
  // Partitioning depends on these exact values never changing.
  EXPECT_EQ(StableHash(""), 14695981039346656037ULL);
  EXPECT_EQ(StableHash("a"), 0xaf63dc4c8601ec8cULL);
}

TEST(IdsTest, ContentHashIsTheSameEverywhereAndTellsContentsApart) {
  // Replicas compare each other's digests: the value may change with a version, never with a
  // machine (word loads are little-endian whatever the host).
  EXPECT_EQ(ContentHash(""), 17562591633849966295ULL);
  EXPECT_EQ(ContentHash("a"), 6801073635828355481ULL);
  const uint64_t empty = ContentHash(""), one_zero = ContentHash(std::string(1, '\0'));
  EXPECT_NE(empty, one_zero);
  // Zero bytes of every length up to three words, and one flipped bit at every position of a
  // kilobyte, all hash apart.
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= 24; ++n)
    EXPECT_TRUE(seen.insert(ContentHash(std::string(n, '\0'))).second) << n;
  std::string text(1000, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7) % 26);
  EXPECT_TRUE(seen.insert(ContentHash(text)).second);
  for (size_t bit = 0; bit < text.size() * 8; ++bit) {
    std::string flipped = text;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_TRUE(seen.insert(ContentHash(flipped)).second) << bit;
  }
  // Every pair of flipped bits in the last 32 bytes, where the lanes end.
  for (size_t i = 0; i < 256; ++i) {
    for (size_t j = i + 1; j < 256; ++j) {
      std::string flipped = text;
      for (size_t bit : {text.size() * 8 - 256 + i, text.size() * 8 - 256 + j})
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      ASSERT_TRUE(seen.insert(ContentHash(flipped)).second) << i << " " << j;
    }
  }
  EXPECT_EQ(ContentHash(text), 5729668865889298494ULL);
}

TEST(KeyspaceTest, KeysOfOnePartitionShareAHashTag) {
  redis::Keyspace ks("stp", 8);
  int p = ks.PartitionOf("01hq3k5v7m9xabcd");
  EXPECT_GE(p, 0);
  EXPECT_LT(p, 8);
  EXPECT_EQ(ks.Key(p, "project", "x"), "stp:{p" + std::to_string(p) + "}:project:x");
  EXPECT_EQ(ks.Events(3), "stp:{p3}:events");
  EXPECT_EQ(ks.Global("apikey", "k"), "stp:{g}:apikey:k");
  EXPECT_EQ(ks.AllEventStreams().size(), 8u);
  redis::Keyspace one;
  EXPECT_EQ(one.PartitionOf("anything"), 0);
}

TEST(StreamIdTest, ComparesNumerically) {
  EXPECT_EQ(redis::CompareStreamIds("9-0", "10-0"), -1);
  EXPECT_EQ(redis::CompareStreamIds("10-2", "10-10"), -1);
  EXPECT_EQ(redis::CompareStreamIds("10-2", "10-2"), 0);
  EXPECT_EQ(redis::CompareStreamIds("11-0", "10-99"), 1);
}

TEST(StopFlagTest, SetWakesALoopSleepingOutItsBackoff) {
  StopFlag stop;
  EXPECT_FALSE(stop.SleepFor(absl::Milliseconds(1)));  // not set: sleeps it out
  absl::Notification sleeping;
  absl::Time woke;
  std::thread loop([&] {
    sleeping.Notify();
    EXPECT_TRUE(stop.SleepFor(absl::Seconds(30)));
    woke = absl::Now();
  });
  sleeping.WaitForNotification();
  const absl::Time set = absl::Now();
  EXPECT_FALSE(stop.Set());
  loop.join();
  EXPECT_LT(woke - set, absl::Seconds(10));  // not the 30 s
  EXPECT_TRUE(stop.IsSet());
  EXPECT_TRUE(stop.Set());                     // already set
  EXPECT_TRUE(stop.SleepFor(absl::Hours(1)));  // set: returns at once
}

TEST(WorkerPoolTest, RunsEverythingAndRefusesWhenFull) {
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    WorkerPool pool("test", 1, 2);
    ASSERT_TRUE(pool.TrySubmit([&] {
      release.WaitForNotification();
      ++ran;
    }));
    while (pool.busy() == 0) absl::SleepFor(absl::Milliseconds(1));
    int accepted = 0;
    while (pool.TrySubmit([&] { ++ran; })) ++accepted;
    EXPECT_EQ(accepted, 2);
    EXPECT_EQ(pool.queue_depth(), 2u);
    release.Notify();
    pool.Shutdown();
    EXPECT_EQ(ran.load(), accepted + 1);
    EXPECT_FALSE(pool.TrySubmit([] {}));
  }
}

TEST(TraceContextTest, KeepsAValidTraceIdAndMakesANewSpan) {
  RequestContext rc;
  FillTraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &rc);
  EXPECT_EQ(rc.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(rc.traceparent.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_EQ(rc.traceparent.size(), 55u);
  EXPECT_NE(rc.traceparent.substr(36, 16), "00f067aa0ba902b7");
}

TEST(TraceContextTest, StartsANewTraceOnGarbage) {
  for (const char* bad : {"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}) {
    RequestContext rc;
    FillTraceContext(bad, &rc);
    EXPECT_EQ(rc.trace_id.size(), 32u) << bad;
    EXPECT_NE(rc.trace_id, "00000000000000000000000000000000");
  }
}

#ifdef STP_WITH_JEMALLOC
// jemalloc linked is not enough: malloc and operator new must resolve to it (a link order, an
// --as-needed or a static C library could leave them with the C library's), and the
// configuration compiled in (background_thread) must have been read.
TEST(AllocatorTest, JemallocServesMallocAndNew) {
  EXPECT_EQ(AllocatorName().rfind("jemalloc 5.", 0), 0u) << AllocatorName();
  auto before = ReadAllocatorStats();
  ASSERT_TRUE(before.has_value());
  constexpr size_t kBytes = 64 << 20;
  void* block = std::malloc(kBytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);
  auto object = std::make_unique<char[]>(kBytes);
  // Seen by the compiler as used, so that neither allocation is elided.
  asm volatile("" : : "g"(block), "g"(object.get()) : "memory");
  auto during = ReadAllocatorStats();
  ASSERT_TRUE(during.has_value());
  EXPECT_GE(during->allocated, before->allocated + 2 * kBytes - (1 << 20));
  EXPECT_GE(during->resident, during->allocated);
  std::free(block);
  object.reset();
  EXPECT_LE(ReadAllocatorStats()->allocated, during->allocated - 2 * kBytes + (1 << 20));
  bool background = false;
  size_t size = sizeof(background);
  ASSERT_EQ(mallctl("opt.background_thread", &background, &size, nullptr, 0), 0);
  EXPECT_TRUE(background);
}
#else
TEST(AllocatorTest, WithoutJemallocTheCLibraryServesAndNoStatsAreClaimed) {
  EXPECT_EQ(AllocatorName(), "libc");
  EXPECT_FALSE(ReadAllocatorStats().has_value());
}
#endif

TEST(ProtoTimeTest, KeepsNanosecondsAndClampsToTheTimestampRange) {
  const absl::Time t = absl::FromUnixNanos(1700000000123456789);
  EXPECT_EQ(common::ToTimestamp(t).seconds(), 1700000000);
  EXPECT_EQ(common::ToTimestamp(t).nanos(), 123456789);
  EXPECT_EQ(common::FromTimestamp(common::ToTimestamp(t)), t);
  // Before 1970: seconds towards the past, nanoseconds after them (never negative).
  const absl::Time before = absl::FromUnixMillis(-1500);
  EXPECT_EQ(common::ToTimestamp(before).seconds(), -2);
  EXPECT_EQ(common::ToTimestamp(before).nanos(), 500000000);
  EXPECT_EQ(common::FromTimestamp(common::ToTimestamp(before)), before);
  // Past 2262, where an int64 of nanoseconds ends.
  const absl::Time far =
      absl::FromCivil(absl::CivilSecond(2400, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(common::FromTimestamp(common::ToTimestamp(far)), far);
  EXPECT_EQ(common::ToTimestamp(absl::InfiniteFuture()).seconds(), 253402300799);
  EXPECT_EQ(common::ToTimestamp(absl::InfinitePast()).seconds(), -62135596800);
  EXPECT_EQ(common::ToTimestamp(absl::InfiniteFuture()).nanos(), 0);
}

TEST(EventHeaderTest, NamesTheSnapshotWithoutParsingIt) {
  stp::events::v1::Event e;
  e.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  e.set_resource("projects/abc");
  e.set_revision(3);
  e.mutable_score_change()->mutable_current()->set_total(61);
  auto header = common::ReadEventHeader(e.SerializeAsString());
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->type, stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  EXPECT_EQ(header->resource, "projects/abc");
  EXPECT_EQ(header->revision, 3);
  EXPECT_EQ(header->snapshot_field, stp::events::v1::Event::kScoreChangeFieldNumber);

  e.mutable_organization()->set_display_name("Ministry");
  e.clear_revision();
  header = common::ReadEventHeader(e.SerializeAsString());
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->snapshot_field, stp::events::v1::Event::kOrganizationFieldNumber);
  EXPECT_FALSE(header->revision.has_value());

  // A field this reader does not know (a newer writer's) is skipped, not a snapshot.
  header = common::ReadEventHeader(e.SerializeAsString() + std::string("\xfa\x01\x01x", 4));
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->snapshot_field, stp::events::v1::Event::kOrganizationFieldNumber);

  stp::events::v1::Event bare;
  bare.set_resource("countries/KE");
  header = common::ReadEventHeader(bare.SerializeAsString());
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->snapshot_field, 0);

  // Garbage: a zero tag in the middle, a truncated resource.
  EXPECT_FALSE(common::ReadEventHeader(std::string("\x10\x01\x00\x10", 4)).has_value());
  EXPECT_FALSE(common::ReadEventHeader("\x1a\xff\xff").has_value());
}

// A score event as the streams keep it, packed or plain: readers get the full event either way
// (the same as one serialized whole), header readers need not unpack it, and a damaged packed
// one is unreadable, never another event.
TEST(EventPayloadTest, ScoreEventsPackedOrPlainReadAsTheWholeEvent) {
  stp::events::v1::Event e;
  e.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  e.set_resource("projects/abc");
  e.set_revision(7);
  e.mutable_score_change()->mutable_previous()->set_total(40);
  stp::scoring::v1::Score current;
  current.set_project("projects/abc");
  current.set_total(61);
  for (int i = 0; i < 6; ++i) {
    auto* c = current.add_components();
    c->add_reasons(
        "no financier has committed funds yet: name the lead financier and record "
        "its commitment");
    c->add_reasons(
        "the host (Kenya, lower-middle income) is one income group below the "
        "technology partner's country");
  }
  const std::string rest = e.SerializeAsString();  // without the current score
  stp::events::v1::Event whole = e;
  *whole.mutable_score_change()->mutable_current() = current;

  const std::string serialized = current.SerializeAsString();
  const std::string packed = common::PackScoreEvent(rest, common::PackPhrases(serialized));
  ASSERT_TRUE(common::IsPackedEvent(packed));
  EXPECT_LT(packed.size() * 2, whole.ByteSizeLong()) << "reasons from the dictionary pack small";
  auto header = common::ReadEventHeader(packed);  // without unpacking
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->type, stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  EXPECT_EQ(header->resource, "projects/abc");
  EXPECT_EQ(header->revision, 7);
  EXPECT_EQ(header->snapshot_field, stp::events::v1::Event::kScoreChangeFieldNumber);

  std::string scratch;
  const std::string* out = common::EventPayload(&packed, &scratch);
  ASSERT_EQ(out, &scratch);
  stp::events::v1::Event read;
  ASSERT_TRUE(read.ParseFromString(*out));
  EXPECT_EQ(read.SerializeAsString(), whole.SerializeAsString());

  // Plain: any parser of any build reads the whole event.
  const std::string plain = common::PlainScoreEvent(rest, serialized);
  EXPECT_FALSE(common::IsPackedEvent(plain));
  std::string unused;
  EXPECT_EQ(common::EventPayload(&plain, &unused), &plain);
  EXPECT_TRUE(unused.empty()) << "a plain payload is not copied";
  stp::events::v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(plain));
  EXPECT_EQ(parsed.SerializeAsString(), whole.SerializeAsString());
  EXPECT_EQ(common::EventPayload(nullptr, &scratch), nullptr);

  // Damaged: a flipped bit in the packed score, cut short, or cut inside its length.
  std::string damaged = packed;
  damaged[damaged.size() - 10] ^= 0x20;
  EXPECT_EQ(common::EventPayload(&damaged, &scratch), nullptr);
  const std::string cut = packed.substr(0, packed.size() - 4);
  EXPECT_EQ(common::EventPayload(&cut, &scratch), nullptr);
  const std::string no_score = packed.substr(0, 2 + rest.size());
  EXPECT_EQ(common::EventPayload(&no_score, &scratch), nullptr);
  const std::string format_byte_only("\x02", 1);
  EXPECT_EQ(common::EventPayload(&format_byte_only, &scratch), nullptr);
  EXPECT_FALSE(common::ReadEventHeader(format_byte_only).has_value());
  const std::string too_long = std::string("\x02\x7f", 2) + rest.substr(0, 3);
  EXPECT_FALSE(common::ReadEventHeader(too_long).has_value());
  EXPECT_EQ(common::EventPayload(&too_long, &scratch), nullptr);
}

}  // namespace
}  // namespace stp
