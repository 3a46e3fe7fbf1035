// Step keys and step records over a real store and build context: what changes a key and
// what does not, and records read back as written (a record whose layer is gone is a miss).
#include "builder/step_cache.h"

#include <memory>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "builder/dockerfile/parser.h"
#include "gtest/gtest.h"
#include "layers/store.h"

namespace kiln::builder {
namespace {

// A record name (a key's 64 hex digits) made of one digit.
std::string K(const char* digit) { return std::string(64, digit[0]); }

class StepCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/var/tmp/kiln-step-cache-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    context_ = dir_->path() + "/context";
    ASSERT_TRUE(MakeDirs(context_).ok());
    Write("a.txt", "a\n");
    Write("Dockerfile", "FROM scratch\n");
    auto store = layers::Store::Open(dir_->path() + "/store");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(context_ + "/" + rel, text).ok());
  }

  // A session over the context as it is now, with `request`'s settings.
  std::unique_ptr<BuildSession> Session(BuildRequest request = {}) {
    requests_.push_back(std::make_unique<BuildRequest>(std::move(request)));
    requests_.back()->context_dir = context_;
    auto session = std::make_unique<BuildSession>(*store_, *requests_.back(), progress_);
    absl::Status s = session->Open(context_ + "/Dockerfile");
    EXPECT_TRUE(s.ok()) << s;
    return session;
  }

  // The last instruction of a one-stage Dockerfile, planned.
  const PlannedInstruction& Step(const std::string& text) {
    auto df = dockerfile::Parse(text, "Dockerfile");
    EXPECT_TRUE(df.ok()) << df.status();
    dockerfiles_.push_back(std::make_unique<dockerfile::Dockerfile>(*std::move(df)));
    auto plan = MakePlan(*dockerfiles_.back(), {});
    EXPECT_TRUE(plan.ok()) << plan.status();
    plans_.push_back(std::make_unique<Plan>(*std::move(plan)));
    return plans_.back()->stages.back().instructions.back();
  }

  std::string Key(BuildSession& session, const PlannedInstruction& p, const ImageState& state,
                  std::map<std::string, std::string> args = {}, bool link = false) {
    StageRun run{stage_, 1, std::move(args), {}};
    auto key = StepKey(session, run, state, p, link);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.value_or("");
  }

  ImageState Parent(const std::string& key, const std::string& workdir = "/") {
    ImageState state;
    state.key = key;
    state.config.config.working_dir = workdir;
    return state;
  }

  std::optional<TempDir> dir_;
  std::string context_;
  std::unique_ptr<layers::Store> store_;
  ProgressFn progress_ = [](const BuildEvent&) {};
  std::vector<std::unique_ptr<BuildRequest>> requests_;
  std::vector<std::unique_ptr<dockerfile::Dockerfile>> dockerfiles_;
  std::vector<std::unique_ptr<Plan>> plans_;
  Stage stage_;
};

TEST_F(StepCacheTest, KeyIsStableAndFollowsParentArgsAndSourceDate) {
  auto session = Session();
  const PlannedInstruction& p = Step("FROM scratch\nRUN make\n");
  const std::string key = Key(*session, p, Parent("p1"));
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(Key(*session, p, Parent("p1")), key);
  EXPECT_NE(Key(*session, p, Parent("p2")), key);
  EXPECT_NE(Key(*session, p, Parent("p1"), {{"V", "1"}}), key);
  EXPECT_NE(Key(*session, Step("FROM scratch\nRUN make all\n"), Parent("p1")), key);
  BuildRequest later;
  later.source_date_epoch = 1700000000;
  auto dated = Session(later);
  EXPECT_NE(Key(*dated, p, Parent("p1")), key);
}

TEST_F(StepCacheTest, CopyKeyFollowsTheContentOfItsSources) {
  const PlannedInstruction& p = Step("FROM scratch\nCOPY a.txt /a\n");
  const std::string before = Key(*Session(), p, Parent("p"));
  Write("unrelated.txt", "x\n");
  EXPECT_EQ(Key(*Session(), p, Parent("p")), before);
  Write("a.txt", "changed\n");
  EXPECT_NE(Key(*Session(), p, Parent("p")), before);
}

TEST_F(StepCacheTest, LinkKeyIgnoresTheBaseButNotTheWorkdir) {
  auto session = Session();
  const PlannedInstruction& p = Step("FROM scratch\nCOPY --link a.txt b\n");
  ASSERT_TRUE(LinkReusable(p));
  const std::string key = Key(*session, p, Parent("base1"), {}, /*link=*/true);
  EXPECT_EQ(Key(*session, p, Parent("base2"), {{"V", "1"}}, /*link=*/true), key);
  EXPECT_NE(Key(*session, p, Parent("base1", "/app"), {}, /*link=*/true), key);
  EXPECT_NE(Key(*session, p, Parent("base1")), key);
}

TEST_F(StepCacheTest, OnlyNumericOwnersMakeALinkReusable) {
  EXPECT_TRUE(LinkReusable(Step("FROM scratch\nCOPY --link --chown=1:2 a.txt b\n")));
  EXPECT_FALSE(LinkReusable(Step("FROM scratch\nCOPY --link --chown=app a.txt b\n")));
  EXPECT_FALSE(LinkReusable(Step("FROM scratch\nCOPY a.txt b\n")));
}

TEST_F(StepCacheTest, ContentKeyFollowsConfigAndLayers) {
  ImageState state = Parent("k");
  const std::string key = ContentKey("k", state);
  EXPECT_EQ(ContentKey("k", state), key);
  state.config.config.env = {"A=1"};
  EXPECT_NE(ContentKey("k", state), key);
}

TEST_F(StepCacheTest, StepRecordsReadBackAndAMissingLayerIsAMiss) {
  StepRecords records(store_->root(), store_->blobs());
  auto blob = store_->blobs().Put("layer bytes");
  ASSERT_TRUE(blob.ok());
  ImageState state = Parent(K("1"));
  state.config.config.env = {"A=1"};
  state.config.diff_ids = {*blob};
  state.layers = {{"application/vnd.oci.image.layer.v1.tar", *blob, 11}};
  ASSERT_TRUE(records.SaveStep(K("1"), state).ok());
  std::optional<ImageState> back = records.LoadStep(K("1"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->key, K("1"));
  EXPECT_EQ(back->config.config.env, state.config.config.env);
  ASSERT_EQ(back->layers.size(), 1u);
  EXPECT_EQ(back->layers[0].digest, *blob);
  EXPECT_FALSE(records.LoadStep("other").has_value());
  EXPECT_FALSE(records.LoadMarker(K("1")).has_value());  // a step record is not a marker

  ImageState gone = state;
  gone.layers[0].digest = oci::Digest::Of("never stored");
  ASSERT_TRUE(records.SaveStep(K("2"), gone).ok());
  EXPECT_FALSE(records.LoadStep(K("2")).has_value());
}

TEST_F(StepCacheTest, MarkersKeepTheKeyPassedOn) {
  StepRecords records(store_->root(), store_->blobs());
  const std::string content(64, 'c');  // keys passed on are sha256 hex
  ASSERT_TRUE(records.SaveMarker(K("3"), K("3")).ok());
  ASSERT_TRUE(records.SaveMarker(K("4"), content).ok());
  EXPECT_EQ(records.LoadMarker(K("3")), K("3"));
  EXPECT_EQ(records.LoadMarker(K("4")), content);
  EXPECT_FALSE(records.LoadStep(K("3")).has_value());
}

TEST_F(StepCacheTest, LinkedLayersAreReusedOnAnotherState) {
  StepRecords records(store_->root(), store_->blobs());
  auto blob = store_->blobs().Put("linked layer");
  ASSERT_TRUE(blob.ok());
  ImageState made = Parent("a");
  made.layers = {{"application/vnd.oci.image.layer.v1.tar", *blob, 12}};
  made.config.diff_ids = {*blob};
  ASSERT_TRUE(records.SaveLinkedLayer(K("5"), made, 0).ok());
  ASSERT_TRUE(records.SaveLinkedLayer(K("6"), made, 1).ok());

  ImageState other = Parent("b");
  ASSERT_TRUE(records.ReuseLinkedLayer(K("5"), "2024-01-01T00:00:00Z", "COPY a b", &other));
  ASSERT_EQ(other.layers.size(), 1u);
  EXPECT_EQ(other.config.diff_ids, std::vector<oci::Digest>{*blob});
  ASSERT_EQ(other.config.history.size(), 1u);
  EXPECT_FALSE(other.config.history[0].empty_layer);

  ImageState nothing = Parent("c");
  ASSERT_TRUE(records.ReuseLinkedLayer(K("6"), "t", "COPY x y", &nothing));
  EXPECT_TRUE(nothing.layers.empty());
  ASSERT_EQ(nothing.config.history.size(), 1u);
  EXPECT_TRUE(nothing.config.history[0].empty_layer);

  EXPECT_FALSE(records.ReuseLinkedLayer(K("7"), "t", "COPY", &nothing));
}

}  // namespace
}  // namespace kiln::builder
