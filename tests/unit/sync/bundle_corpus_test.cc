// Replays the bundle_fuzzer seed corpus through the fuzzer's own check
// (tests/fuzz/bundle_fuzz_entry.h), so CI covers it without clang.
// "valid-*" seeds are whole bundles signed with the fuzz key, "bad-*" seeds
// are refused as files, "signed-*" seeds are frames for the second way.
//
// To write the seeds again after a format change:
//   POSTA_WRITE_SEEDS=1 sync_bundle_test
//   --gtest_filter=BundleCorpusTest.WriteSeeds
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bundle_fuzz_entry.h"
#include "posta/sync/bundle_file.h"
#include "posta/sync/wire.h"
#include "test_util.h"

namespace posta::sync {
namespace {

std::string Signed(
    const BundleHeader& header,
    const std::vector<std::pair<BundleFrameKind, std::string>>& frames) {
  std::string out;
  BundleWriter writer(
      [&out](std::string_view b) {
        out.append(b);
        return Status::Ok();
      },
      fuzz::FuzzBundleKey(header.direction));
  EXPECT_OK(writer.Begin(header));
  for (const auto& [kind, message] : frames) {
    EXPECT_OK(writer.Add(kind, message, 1));
  }
  EXPECT_OK(writer.Finish());
  return out;
}

PushBatch SeedPush() {
  PushBatch b;
  b.node_id = "fuzzclinic";
  b.after_seq = 40;
  b.to_seq = 42;
  storage::ChangeEntry e;
  e.seq = 41;
  e.record.id = "p-1";
  e.record.facility = "north";
  e.record.content = R"({"gender":"female","name":[{"family":"Núñez"}]})";
  e.record.version = base::HlcStamp{1763885524123, 0, "fuzzclinic"};
  e.record.last_updated_ms = 1763885524123;
  e.record.field_stamps["gender"] = e.record.version;
  e.record.field_stamps["name"] = e.record.version;
  b.changes.push_back(e);
  return b;
}

::posta::testing::Seeds Seeds() {
  const BundleHeader to_hub = fuzz::FuzzHeader();
  BundleHeader to_clinic = to_hub;
  to_clinic.direction = BundleDirection::kHubToClinic;
  to_clinic.origin_node_id = "fuzzhub";
  to_clinic.destination_node_id = "fuzzclinic";
  PullBatch pull;
  pull.after_seq = 7;
  pull.to_seq = 9;
  pull.changes = SeedPush().changes;
  pull.changes[0].seq = 8;
  const std::string clinic = Signed(
      to_hub, {{BundleFrameKind::kAck, Encode(PullRequest{"fuzzclinic", 7, 0})},
               {BundleFrameKind::kPush, Encode(SeedPush())}});
  const std::string hub =
      Signed(to_clinic, {{BundleFrameKind::kAck, Encode(PushAck{42})},
                         {BundleFrameKind::kPull, Encode(pull)}});
  std::string flipped = clinic;
  flipped[flipped.size() / 2] ^= 0x01;
  std::string magic = clinic;
  magic[0] = 'Q';
  std::string version = clinic;
  version[4] = 9;
  // Way 2: [cut][kind][len lo][len hi][payload]...
  const std::string ack = Encode(PullRequest{"fuzzclinic", 7, 0});
  auto chunk = [](uint8_t kind, const std::string& payload) {
    return std::string(1, static_cast<char>(kind)) +
           static_cast<char>(payload.size() & 0xff) +
           static_cast<char>(payload.size() >> 8) + payload;
  };
  return {
      {"valid-clinic-bundle", clinic},
      {"valid-hub-bundle", hub},
      {"valid-empty-bundle", Signed(to_hub, {})},
      {"bad-flipped-byte", flipped},
      {"bad-truncated", clinic.substr(0, clinic.size() - 40)},
      {"bad-magic", magic},
      {"bad-version", version},
      {"bad-trailing-bytes", clinic + "x"},
      {"signed-frames",
       std::string(1, '\0') + chunk(3, ack) + chunk(1, Encode(SeedPush()))},
      {"signed-cut",
       std::string(1, '\x81') + chunk(3, ack) + chunk(1, Encode(SeedPush()))},
      {"signed-bad-kinds", std::string(1, '\0') + chunk(0, "x") +
                               chunk(9, "y") + chunk(4, "short")},
  };
}

// How far `data` reads as a bundle with the fuzz key: "no header",
// "unverified", "<n> frames, cut", "<n> frames, refused: <code>" or
// "<n> frames, whole".
std::string Shape(const std::string& data) {
  std::istringstream in(data);
  BundleReader reader(in, fuzz::BundleFuzzLimits());
  Result<BundleHeader> h = reader.ReadHeader();
  if (!h.ok()) return "no header";
  if (!reader.Verify(fuzz::FuzzBundleKey(h->direction)).ok()) {
    return "unverified";
  }
  int frames = 0;
  while (true) {
    Result<BundleFrame> f = reader.Next();
    if (!f.ok()) {
      if (reader.truncated()) return std::to_string(frames) + " frames, cut";
      return std::to_string(frames) + " frames, refused: " +
             std::to_string(static_cast<int>(f.status().code()));
    }
    if (f->kind == BundleFrameKind::kTrailer) {
      return std::to_string(frames) + (reader.ExpectEnd().ok()
                                           ? " frames, whole"
                                           : " frames, then extra bytes");
    }
    ++frames;
  }
}

TEST(BundleCorpusTest, SeedsPassTheFuzzCheck) {
  int seeds = 0;
  for (const auto& [name, data] :
       ::posta::testing::ReadCorpus(POSTA_BUNDLE_CORPUS_DIR)) {
    SCOPED_TRACE(name);
    ++seeds;
    EXPECT_EQ(fuzz::CheckBundleInput(data), "");
    const std::string shape = Shape(data);
    if (name.starts_with("valid-")) {
      EXPECT_TRUE(shape.ends_with("whole")) << shape;
    }
    if (name.starts_with("bad-")) {
      EXPECT_FALSE(shape.ends_with("whole")) << shape;
    }
  }
  EXPECT_GE(seeds, 10);
}

TEST(BundleCorpusTest, SeedsMatchTheirGenerator) {
  const std::filesystem::path dir(POSTA_BUNDLE_CORPUS_DIR);
  for (const auto& [name, bytes] : Seeds()) {
    SCOPED_TRACE(name);
    const std::string file =
        ::posta::testing::ReadWholeFile((dir / name).string());
    ASSERT_FALSE(file.empty()) << "missing seed; see the top of this file";
    // zstd's output may change between versions (and the MACs with it):
    // compare how far each reads, not the bytes.
    EXPECT_EQ(Shape(file), Shape(bytes));
    if (name.starts_with("signed-")) {
      EXPECT_EQ(Shape(fuzz::MakeSigned(file).bundle),
                Shape(fuzz::MakeSigned(bytes).bundle));
    }
  }
}

TEST(BundleCorpusTest, WriteSeeds) {
  if (std::getenv("POSTA_WRITE_SEEDS") == nullptr) {
    GTEST_SKIP() << "a tool, not a check: set POSTA_WRITE_SEEDS=1 to rewrite "
                    "the seed corpus";
  }
  ASSERT_OK(::posta::testing::WriteCorpus(POSTA_BUNDLE_CORPUS_DIR, Seeds()));
}

}  // namespace
}  // namespace posta::sync
