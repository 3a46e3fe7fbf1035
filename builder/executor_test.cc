// The executor over a real store, without RUN steps (which need the sandbox: the e2e tests
// run those): scheduling and step numbering, the build cache (hits, what a changed source
// re-runs, records shared across stores), stages copying from stages, and errors. Files are
// owned by the current user (--chown), so the test runs without root.
#include "builder/executor.h"

#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file_util.h"
#include "gtest/gtest.h"
#include "layers/store.h"

namespace kiln::builder {
namespace {

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/var/tmp/kiln-executor-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    context_ = dir_->path() + "/context";
    ASSERT_TRUE(MakeDirs(context_ + "/src/sub").ok());
    Write("a.txt", "a\n");
    Write("src/b.txt", "b\n");
    Write("src/sub/c.txt", "c\n");
    owner_ = absl::StrCat(::getuid(), ":", ::getgid());
  }

  void Write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(context_ + "/" + rel, text).ok());
  }
  // The Dockerfile, with OWNER standing for the current user's ids.
  void Dockerfile(const std::string& text) {
    Write("Dockerfile", absl::StrReplaceAll(text, {{"OWNER", owner_}}));
  }

  layers::Store& StoreNamed(const std::string& name) {
    auto& s = stores_[name];
    if (s == nullptr) {
      auto opened = layers::Store::Open(dir_->path() + "/store-" + name);
      EXPECT_TRUE(opened.ok()) << opened.status();
      s = std::move(*opened);
    }
    return *s;
  }

  absl::StatusOr<BuildResult> BuildIn(const std::string& store, BuildRequest request = {}) {
    request.context_dir = context_;
    request.tags = {"app:1"};
    events_.clear();
    return Build(StoreNamed(store), request, [this](const BuildEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }

  std::vector<int> Steps(BuildEvent::Kind kind) {
    std::vector<int> out;
    for (const BuildEvent& e : events_) {
      if (e.kind == kind) out.push_back(e.step);
    }
    return out;
  }

  std::optional<TempDir> dir_;
  std::string context_, owner_;
  std::map<std::string, std::unique_ptr<layers::Store>> stores_;
  std::mutex mu_;
  std::vector<BuildEvent> events_;
};

constexpr char kFile[] = R"(FROM scratch
ARG V=1
ENV A=$V
COPY --chown=OWNER a.txt /a.txt
COPY --chown=OWNER src/ /app/
LABEL l=x
)";

TEST_F(ExecutorTest, RunsEveryStepThenReusesThemAll) {
  Dockerfile(kFile);
  absl::StatusOr<BuildResult> first = BuildIn("a");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->steps_run, 2);  // the COPYs: ARG, ENV and LABEL only change the config
  EXPECT_EQ(first->steps_cached, 0);
  EXPECT_EQ(Steps(BuildEvent::Kind::kStepStart), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Steps(BuildEvent::Kind::kStepLayer), (std::vector<int>{3, 4}));
  absl::StatusOr<oci::Descriptor> tagged = StoreNamed("a").Resolve("app:1");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->digest, first->manifest_digest);

  absl::StatusOr<BuildResult> again = BuildIn("a");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->steps_run, 0);
  EXPECT_EQ(again->steps_cached, 2);
  EXPECT_EQ(again->manifest_digest, first->manifest_digest);
  EXPECT_EQ(Steps(BuildEvent::Kind::kStepCached), (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST_F(ExecutorTest, TheSameInputsGiveTheSameImageInAnotherStore) {
  Dockerfile(kFile);
  absl::StatusOr<BuildResult> a = BuildIn("a");
  absl::StatusOr<BuildResult> b = BuildIn("b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->manifest_digest, b->manifest_digest);
  EXPECT_EQ(b->steps_run, 2);  // nothing shared between stores
}

TEST_F(ExecutorTest, AChangedSourceRerunsFromItsCopy) {
  Dockerfile(kFile);
  absl::StatusOr<BuildResult> first = BuildIn("a");
  ASSERT_TRUE(first.ok()) << first.status();
  Write("src/sub/c.txt", "changed\n");
  absl::StatusOr<BuildResult> second = BuildIn("a");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->steps_cached, 1);  // the first COPY
  EXPECT_EQ(second->steps_run, 1);     // the second COPY (the LABEL after it is config only)
  EXPECT_NE(second->manifest_digest, first->manifest_digest);
}

TEST_F(ExecutorTest, BuildArgsAreInTheKey) {
  Dockerfile(kFile);
  ASSERT_TRUE(BuildIn("a").ok());
  BuildRequest r;
  r.build_args = {{"V", "2"}};
  absl::StatusOr<BuildResult> other = BuildIn("a", r);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->steps_cached, 0);  // the ARG's value reaches every step after it
}

TEST_F(ExecutorTest, StagesCopyFromEarlierStages) {
  Dockerfile(R"(FROM scratch AS one
COPY --chown=OWNER a.txt /a.txt
FROM scratch AS two
COPY --chown=OWNER src/b.txt /b.txt
FROM scratch
COPY --from=one --chown=OWNER /a.txt /x/a.txt
COPY --from=1 --chown=OWNER /b.txt /x/b.txt
)");
  absl::StatusOr<BuildResult> r = BuildIn("a");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps_run, 4);
  std::vector<int> starts = Steps(BuildEvent::Kind::kStepStart);
  std::sort(starts.begin(), starts.end());
  EXPECT_EQ(starts, (std::vector<int>{1, 2, 3, 4}));
  // A COPY --from is keyed by the stage it copies from: only the changed stage reruns.
  Write("src/b.txt", "b2\n");
  absl::StatusOr<BuildResult> again = BuildIn("a");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->steps_cached, 2);  // stage one, and the final COPY --from=one
  EXPECT_EQ(again->steps_run, 2);
}

TEST_F(ExecutorTest, AFailedStepNamesItsLineAndLeavesNoWorkBehind) {
  Dockerfile("FROM scratch\nENV A=1\nCOPY missing.txt /m\n");
  absl::StatusOr<BuildResult> r = BuildIn("a");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Dockerfile:3"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("missing.txt"), std::string::npos) << r.status();
  absl::StatusOr<std::vector<std::string>> left = ListDir(StoreNamed("a").root() + "/run");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << (*left)[0];
  EXPECT_FALSE(StoreNamed("a").Resolve("app:1").ok());  // nothing tagged
}

}  // namespace
}  // namespace kiln::builder
