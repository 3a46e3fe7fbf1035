#include "registry/http.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::registry {
namespace {

TEST(ResolveUrlTest, ResolvesAbsoluteOriginAndPathRelativeLocations) {
  const std::string base = "https://r.test:5000/v2/a/blobs/uploads/?mount=x";
  EXPECT_EQ(ResolveUrl(base, "http://other/x"), "http://other/x");
  EXPECT_EQ(ResolveUrl(base, "/v2/a/blobs/uploads/u1"),
            "https://r.test:5000/v2/a/blobs/uploads/u1");
  EXPECT_EQ(ResolveUrl(base, "u1?state=s"), "https://r.test:5000/v2/a/blobs/uploads/u1?state=s");
  EXPECT_EQ(ResolveUrl("https://r.test", "x"), "https://r.test/x");
}

// Answers every request with the next of `replies` (status, Location), recording the requests.
class ScriptedTransport {
 public:
  struct Step {
    long status;
    std::string location;
  };
  explicit ScriptedTransport(std::vector<Step> steps) : steps_(std::move(steps)) {}
  absl::StatusOr<std::unique_ptr<HttpResponse>> Send(const HttpRequest& r) {
    sent.push_back(r);
    Step s = next_ < steps_.size() ? steps_[next_++] : Step{200, ""};
    Headers h;
    if (!s.location.empty()) h.emplace_back("location", s.location);
    return std::unique_ptr<HttpResponse>(new BufferedResponse(s.status, r.url, h, "body"));
  }
  std::vector<HttpRequest> sent;

 private:
  std::vector<Step> steps_;
  size_t next_ = 0;
};

absl::StatusOr<std::unique_ptr<HttpResponse>> Follow(ScriptedTransport& t, HttpRequest req,
                                                     int max_hops) {
  auto first = t.Send(req);
  if (!first.ok()) return first.status();
  return FollowRedirects(std::move(*first), req, max_hops,
                         [&t](const HttpRequest& hop) { return t.Send(hop); });
}

TEST(FollowRedirectsTest, FollowsHopsWithoutCredentials) {
  ScriptedTransport t({{302, "/moved"}, {307, "https://cdn.test/blob"}});
  HttpRequest req;
  req.url = "https://r.test/v2/a/blobs/sha256:x";
  req.headers = {{"Authorization", "Bearer t"}, {"Accept", "*/*"}};
  auto r = Follow(t, req, 5);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status(), 200);
  ASSERT_EQ(t.sent.size(), 3u);
  EXPECT_EQ(t.sent[1].url, "https://r.test/moved");
  EXPECT_EQ(t.sent[2].url, "https://cdn.test/blob");
  for (size_t i = 1; i < t.sent.size(); ++i) {
    ASSERT_EQ(t.sent[i].headers.size(), 1u);
    EXPECT_EQ(t.sent[i].headers[0].first, "Accept");
  }
}

TEST(FollowRedirectsTest, RefusesDowngradesLoopsAndMissingLocations) {
  HttpRequest req;
  req.url = "https://r.test/x";
  ScriptedTransport down({{301, "http://r.test/x"}});
  EXPECT_TRUE(absl::IsPermissionDenied(Follow(down, req, 5).status()));
  EXPECT_EQ(down.sent.size(), 1u);
  ScriptedTransport loop({{302, "/a"}, {302, "/b"}, {302, "/c"}});
  EXPECT_TRUE(absl::IsUnavailable(Follow(loop, req, 2).status()));
  EXPECT_EQ(loop.sent.size(), 3u);
  ScriptedTransport none({{302, ""}});
  EXPECT_TRUE(absl::IsUnavailable(Follow(none, req, 5).status()));
  ScriptedTransport ftp({{302, "ftp://r.test/x"}});
  EXPECT_TRUE(absl::IsInvalidArgument(Follow(ftp, req, 5).status()));
  EXPECT_EQ(ftp.sent.size(), 1u);
  // Plain http to https is an upgrade, and allowed.
  HttpRequest plain;
  plain.url = "http://r.test/x";
  ScriptedTransport up({{302, "https://r.test/x"}});
  EXPECT_TRUE(Follow(up, plain, 5).ok());
}

}  // namespace
}  // namespace kiln::registry
