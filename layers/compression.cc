#include "layers/compression.h"

#include <archive.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
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

// gzip through ISA-L's igzip. Its generic gzip header has mtime 0 and no name.
class GzipWriter : public Writer {
 public:
  GzipWriter(int level, Writer* out) : out_(out), buf_(kOutChunk) {
    isal_deflate_init(&stream_);
    stream_.gzip_flag = IGZIP_GZIP;
    stream_.level = level;
    static const uint32_t kLevelBufSize[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                             ISAL_DEF_LVL3_DEFAULT};
    level_buf_.resize(kLevelBufSize[level]);
    stream_.level_buf = level_buf_.empty() ? nullptr : level_buf_.data();
    stream_.level_buf_size = level_buf_.size();
  }

  absl::Status Write(absl::string_view data) override {
    while (!data.empty()) {
      // avail_in is 32 bits wide.
      size_t n = std::min<size_t>(data.size(), 1u << 30);
      stream_.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data()));
      stream_.avail_in = n;
      stream_.end_of_stream = 0;
      while (stream_.avail_in > 0) RETURN_IF_ERROR(Step());
      data.remove_prefix(n);
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    stream_.next_in = nullptr;
    stream_.avail_in = 0;
    stream_.end_of_stream = 1;
    while (stream_.internal_state.state != ZSTATE_END) RETURN_IF_ERROR(Step());
    return absl::OkStatus();
  }

 private:
  absl::Status Step() {
    stream_.next_out = buf_.data();
    stream_.avail_out = buf_.size();
    int rc = isal_deflate(&stream_);
    if (rc != COMP_OK) return absl::InternalError(absl::StrCat("igzip deflate failed: ", rc));
    size_t produced = buf_.size() - stream_.avail_out;
    if (produced == 0) return absl::OkStatus();
    return out_->Write(absl::string_view(reinterpret_cast<char*>(buf_.data()), produced));
  }

  Writer* out_;
  isal_zstream stream_;
  std::vector<uint8_t> level_buf_;
  std::vector<uint8_t> buf_;
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

}  // namespace kiln::layers
