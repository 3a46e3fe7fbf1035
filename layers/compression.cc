#include "layers/compression.h"

#include <archive.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "oci/media_types.h"

namespace kiln::layers {

absl::StatusOr<Compression> ParseCompression(absl::string_view name) {
  if (name == "gzip") return Compression::kGzip;
  if (name == "zstd") return Compression::kZstd;
  if (name == "none" || name == "uncompressed") return Compression::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compression \"", name, "\" (want gzip, zstd or none)"));
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      break;
  }
  return "none";
}

const char* OciLayerMediaType(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return oci::kOciLayerGzip;
    case Compression::kZstd:
      return oci::kOciLayerZstd;
    case Compression::kNone:
      break;
  }
  return oci::kOciLayer;
}

absl::StatusOr<Compression> CompressionOfMediaType(absl::string_view t) {
  if (t == oci::kOciLayer || t == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
      t == "application/vnd.docker.image.rootfs.diff.tar") {
    return Compression::kNone;
  }
  if (t == oci::kOciLayerGzip || t == oci::kDockerLayerGzip || t == oci::kDockerForeignLayerGzip ||
      t == oci::kOciLayerNondistributableGzip) {
    return Compression::kGzip;
  }
  if (t == oci::kOciLayerZstd ||
      t == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd") {
    return Compression::kZstd;
  }
  return absl::InvalidArgumentError(absl::StrCat("not a layer media type: \"", t, "\""));
}

Compression DetectCompression(absl::string_view head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b) {
    return Compression::kGzip;
  }
  if (head.size() >= 4 && head.substr(0, 4) == absl::string_view("\x28\xb5\x2f\xfd", 4)) {
    return Compression::kZstd;
  }
  return Compression::kNone;
}

int DefaultLevel(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return 1;
    case Compression::kZstd:
      return 3;
    case Compression::kNone:
      break;
  }
  return 0;
}

namespace {

constexpr size_t kOutChunk = 1 << 20;

class PassThroughWriter : public Writer {
 public:
  explicit PassThroughWriter(Writer* out) : out_(out) {}
  absl::Status Write(absl::string_view data) override { return out_->Write(data); }

 private:
  Writer* out_;
};

// gzip through ISA-L's igzip, on every core, as one gzip member. The input is cut into fixed
// blocks of kGzipBlock bytes, each compressed on its own (fresh state, so no back-reference
// crosses a block) into raw deflate that ends byte-aligned with a full flush, the last one with
// the final-block bit. Their concatenation is one valid deflate stream; the header (mtime 0, no
// name, OS unknown: ISA-L's own) and the trailer (CRC-32 and size of the whole input, computed
// in order here) frame it. Block boundaries depend only on the byte count, so the output does
// not depend on how writes are sized or how many workers run.
class GzipWriter : public Writer {
 public:
  GzipWriter(int level, Writer* out)
      : level_(level), out_(out), workers_(std::max(1u, std::thread::hardware_concurrency())) {
    for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Work(); });
  }

  ~GzipWriter() override { Stop(); }

  absl::Status Write(absl::string_view data) override {
    if (!header_written_) {
      static constexpr char kHeader[] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, '\xff'};
      RETURN_IF_ERROR(out_->Write(absl::string_view(kHeader, sizeof kHeader)));
      header_written_ = true;
    }
    crc_ = crc32_gzip_refl(crc_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    size_ += data.size();
    while (!data.empty()) {
      size_t n = std::min(data.size(), kGzipBlock - pending_.size());
      pending_.append(data.data(), n);
      data.remove_prefix(n);
      // A full block is only sent once more input shows it is not the last one.
      if (pending_.size() == kGzipBlock && !data.empty()) RETURN_IF_ERROR(Submit(false));
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (!header_written_) RETURN_IF_ERROR(Write(""));
    RETURN_IF_ERROR(Submit(true));
    RETURN_IF_ERROR(Drain(0));
    Stop();
    unsigned char trailer[8];
    for (int i = 0; i < 4; ++i) trailer[i] = static_cast<unsigned char>(crc_ >> (8 * i));
    for (int i = 0; i < 4; ++i) trailer[4 + i] = static_cast<unsigned char>(size_ >> (8 * i));
    return out_->Write(absl::string_view(reinterpret_cast<char*>(trailer), sizeof trailer));
  }

 private:
  static constexpr size_t kGzipBlock = 1 << 20;

  struct Block {
    std::string in;
    std::vector<uint8_t> out;  // reused: resizing to the same bound does not clear it
    size_t out_size = 0;
    bool last = false;
    bool done = false;
    absl::Status status;
  };

  // Queues the pending input (after writing out finished blocks if too many are in flight).
  absl::Status Submit(bool last) {
    if (pending_.empty() && !last) return absl::OkStatus();
    RETURN_IF_ERROR(Drain(2 * workers_));
    std::shared_ptr<Block> block;
    if (!free_.empty()) {
      block = std::move(free_.back());
      free_.pop_back();
    } else {
      block = std::make_shared<Block>();
    }
    block->in.swap(pending_);
    pending_.clear();
    pending_.reserve(kGzipBlock);
    block->last = last;
    block->done = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(block);
      todo_.push_back(block);
    }
    cv_.notify_one();
    return absl::OkStatus();
  }

  // Writes finished blocks, in order, until at most `in_flight` remain.
  absl::Status Drain(size_t in_flight) {
    while (true) {
      std::shared_ptr<Block> head;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (queue_.size() <= in_flight) return absl::OkStatus();
        head = queue_.front();
        cv_.wait(lock, [&] { return head->done; });
        queue_.pop_front();
      }
      RETURN_IF_ERROR(head->status);
      RETURN_IF_ERROR(out_->Write(
          absl::string_view(reinterpret_cast<const char*>(head->out.data()), head->out_size)));
      free_.push_back(std::move(head));  // its buffers serve a later block
    }
  }

  void Work() {
    // ISA-L's per-level scratch (about 300 KB at level 1), reused for every block of this
    // worker: isal_deflate_init resets what it holds.
    static const uint32_t kLevelBufSize[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                             ISAL_DEF_LVL3_DEFAULT};
    std::vector<uint8_t> level_buf(kLevelBufSize[level_]);
    while (true) {
      std::shared_ptr<Block> block;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !todo_.empty(); });
        if (todo_.empty()) return;
        block = todo_.front();
        todo_.pop_front();
      }
      block->status = Compress(*block, level_buf);
      {
        std::lock_guard<std::mutex> lock(mu_);
        block->done = true;
      }
      cv_.notify_all();
    }
  }

  absl::Status Compress(Block& b, std::vector<uint8_t>& level_buf) const {
    isal_zstream stream;
    isal_deflate_init(&stream);
    stream.gzip_flag = IGZIP_DEFLATE;
    stream.level = level_;
    stream.level_buf = level_buf.empty() ? nullptr : level_buf.data();
    stream.level_buf_size = level_buf.size();
    stream.flush = b.last ? NO_FLUSH : FULL_FLUSH;
    stream.end_of_stream = b.last ? 1 : 0;
    stream.next_in = reinterpret_cast<uint8_t*>(b.in.data());
    stream.avail_in = b.in.size();
    // Stored blocks bound the output: input + 5 bytes per 64 KiB + the flush marker.
    b.out.resize(kGzipBlock + kGzipBlock / 8192 + 1024);
    stream.next_out = b.out.data();
    stream.avail_out = b.out.size();
    int rc = isal_deflate(&stream);
    if (rc != COMP_OK) return absl::InternalError(absl::StrCat("igzip deflate failed: ", rc));
    if (stream.avail_in != 0 || (b.last && stream.internal_state.state != ZSTATE_END)) {
      return absl::InternalError("igzip: compressed block larger than its bound");
    }
    b.out_size = b.out.size() - stream.avail_out;
    return absl::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  const int level_;
  Writer* out_;
  const int workers_;
  bool header_written_ = false;
  uint32_t crc_ = 0;
  uint64_t size_ = 0;
  std::string pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<std::shared_ptr<Block>> queue_;  // submitted, in order, until written
  std::deque<std::shared_ptr<Block>> todo_;   // not yet taken by a worker
  std::vector<std::shared_ptr<Block>> free_;  // written out; only this thread touches it
  std::vector<std::thread> threads_;
};

class ZstdWriter : public Writer {
 public:
  explicit ZstdWriter(Writer* out) : out_(out), buf_(ZSTD_CStreamOutSize()) {}
  ~ZstdWriter() override { ZSTD_freeCCtx(ctx_); }

  absl::Status Init(int level) {
    ctx_ = ZSTD_createCCtx();
    if (ctx_ == nullptr) return absl::ResourceExhaustedError("zstd: cannot allocate a context");
    // Output with nbWorkers >= 1 does not depend on the worker count, so any machine
    // reproduces it; it differs from single-threaded mode, which is therefore never used.
    int workers = std::max(1u, std::thread::hardware_concurrency());
    for (auto [param, value] :
         {std::pair{ZSTD_c_compressionLevel, level}, std::pair{ZSTD_c_checksumFlag, 0},
          std::pair{ZSTD_c_nbWorkers, workers}}) {
      size_t rc = ZSTD_CCtx_setParameter(ctx_, param, value);
      if (ZSTD_isError(rc)) {
        return absl::InvalidArgumentError(absl::StrCat("zstd: ", ZSTD_getErrorName(rc)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view data) override {
    ZSTD_inBuffer in = {data.data(), data.size(), 0};
    while (in.pos < in.size) RETURN_IF_ERROR(Step(&in, ZSTD_e_continue).status());
    return absl::OkStatus();
  }

  absl::Status Close() override {
    ZSTD_inBuffer in = {nullptr, 0, 0};
    while (true) {
      ASSIGN_OR_RETURN(size_t remaining, Step(&in, ZSTD_e_end));
      if (remaining == 0) return absl::OkStatus();
    }
  }

 private:
  absl::StatusOr<size_t> Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out = {buf_.data(), buf_.size(), 0};
    size_t rc = ZSTD_compressStream2(ctx_, &out, in, mode);
    if (ZSTD_isError(rc)) return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(rc)));
    if (out.pos > 0) RETURN_IF_ERROR(out_->Write(absl::string_view(buf_.data(), out.pos)));
    return rc;
  }

  Writer* out_;
  ZSTD_CCtx* ctx_ = nullptr;
  std::vector<char> buf_;
};

// Decompression through libarchive's "raw" format, which hands back the filtered bytes.
class ArchiveDecompressor : public Reader {
 public:
  explicit ArchiveDecompressor(std::unique_ptr<Reader> in) : in_(std::move(in)), buf_(1 << 20) {}
  ~ArchiveDecompressor() override {
    if (a_) archive_read_free(a_);
  }

  absl::Status Open() {
    a_ = archive_read_new();
    archive_read_support_filter_all(a_);
    archive_read_support_format_raw(a_);
    archive_read_support_format_empty(a_);
    if (archive_read_open(a_, this, nullptr, &ArchiveDecompressor::ReadCallback, nullptr) !=
        ARCHIVE_OK) {
      return Error("opening compressed stream");
    }
    struct archive_entry* entry;
    int rc = archive_read_next_header(a_, &entry);
    if (rc == ARCHIVE_EOF) {
      eof_ = true;
    } else if (rc != ARCHIVE_OK) {
      return Error("reading compressed stream");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (eof_) return 0;
    la_ssize_t k = archive_read_data(a_, buf, n);
    if (k < 0) return Error("decompressing");
    if (k == 0) eof_ = true;
    return static_cast<size_t>(k);
  }

 private:
  static la_ssize_t ReadCallback(struct archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<ArchiveDecompressor*>(self_ptr);
    auto n = self->in_->Read(self->buf_.data(), self->buf_.size());
    if (!n.ok()) {
      self->source_error_ = n.status();
      archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
      return -1;
    }
    *out = self->buf_.data();
    return static_cast<la_ssize_t>(*n);
  }

  absl::Status Error(absl::string_view what) {
    if (!source_error_.ok()) return source_error_;
    const char* msg = archive_error_string(a_);
    return absl::DataLossError(absl::StrCat(what, ": ", msg ? msg : "unknown error"));
  }

  std::unique_ptr<Reader> in_;
  std::vector<char> buf_;
  struct archive* a_ = nullptr;
  bool eof_ = false;
  absl::Status source_error_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Writer>> NewCompressor(Compression c, int level, Writer* out) {
  switch (c) {
    case Compression::kNone:
      return std::make_unique<PassThroughWriter>(out);
    case Compression::kGzip: {
      if (level < 0 || level > 3) {
        return absl::InvalidArgumentError(
            absl::StrCat("gzip level ", level, " out of range (0..3)"));
      }
      return std::make_unique<GzipWriter>(level, out);
    }
    case Compression::kZstd: {
      if (level < 1 || level > ZSTD_maxCLevel()) {
        return absl::InvalidArgumentError(
            absl::StrCat("zstd level ", level, " out of range (1..", ZSTD_maxCLevel(), ")"));
      }
      auto w = std::make_unique<ZstdWriter>(out);
      RETURN_IF_ERROR(w->Init(level));
      return w;
    }
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::StatusOr<std::unique_ptr<Reader>> NewDecompressor(std::unique_ptr<Reader> in) {
  auto r = std::make_unique<ArchiveDecompressor>(std::move(in));
  RETURN_IF_ERROR(r->Open());
  return r;
}

absl::StatusOr<bool> IsTarArchive(int fd) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return ErrnoError("seek");
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return ErrnoError("dup");
  auto plain = NewDecompressor(std::make_unique<OwnedFdReader>(std::move(dup)));
  bool archive = false;
  if (plain.ok()) {
    char header[512];
    size_t got = 0;
    while (got < sizeof header) {
      auto n = (*plain)->Read(header + got, sizeof header - got);
      if (!n.ok() || *n == 0) break;
      got += *n;
    }
    archive = got == sizeof header && std::memcmp(header + 257, "ustar", 5) == 0;
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) return ErrnoError("seek");
  return archive;
}

}  // namespace kiln::layers
