#include "base/threaded_writer.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

class FailingWriter : public Writer {
 public:
  absl::Status Write(absl::string_view data) override {
    if (++calls_ > 2) return absl::DataLossError("disk on fire");
    return absl::OkStatus();
  }

 private:
  int calls_ = 0;
};

TEST(ThreadedWriterTest, PassesEveryByteInOrder) {
  std::string out;
  StringWriter sink(&out);
  std::string expected;
  {
    ThreadedWriter w(&sink, /*chunk_size=*/7, /*max_chunks=*/2);
    for (int i = 0; i < 1000; ++i) {
      std::string piece = std::to_string(i) + ",";
      expected += piece;
      ASSERT_TRUE(w.Write(piece).ok());
    }
    ASSERT_TRUE(w.Close().ok());
  }
  EXPECT_EQ(out, expected);
}

TEST(ThreadedWriterTest, ReportsDownstreamError) {
  FailingWriter sink;
  ThreadedWriter w(&sink, 4, 1);
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = w.Write("abcdefgh");
  absl::Status closed = w.Close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(closed.message(), "disk on fire");
}

}  // namespace
}  // namespace kiln
