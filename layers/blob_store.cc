#include "layers/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace kiln::layers {

using oci::Digest;

namespace {

absl::Status Unsupported(const Digest& d) {
  return absl::UnimplementedError(
      absl::StrCat("digest algorithm ", d.algorithm(), " is not supported for storage"));
}

// Files a killed writer left in `ingest_dir`: a live writer holds a lock on its file from
// just after making it, so a file whose lock is free, and old enough not to be in that
// moment, has no writer.
void SweepDeadIngests(const std::string& ingest_dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(ingest_dir);
  if (!names.ok()) return;
  const time_t now = ::time(nullptr);
  for (const std::string& name : *names) {
    if (name.rfind("blob-", 0) != 0) continue;
    std::string path = absl::StrCat(ingest_dir, "/", name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || now - st.st_mtime < 60) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(path.c_str());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(std::string root,
                                                           std::string ingest_dir) {
  if (!ingest_dir.empty()) {
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(root, "/blobs/sha256")));
    RETURN_IF_ERROR(MakeDirs(ingest_dir));
    SweepDeadIngests(ingest_dir);
  }
  return std::unique_ptr<BlobStore>(new BlobStore(std::move(root), std::move(ingest_dir)));
}

std::string BlobStore::PathOf(const Digest& d) const {
  return absl::StrCat(root_, "/blobs/", d.algorithm(), "/", d.hex());
}

BlobStore::Ingest::Ingest(const BlobStore* store, UniqueFd fd, std::string path)
    : store_(store), fd_(std::move(fd)), path_(std::move(path)) {}

BlobStore::Ingest::~Ingest() {
  if (!done_) ::unlink(path_.c_str());
}

absl::Status BlobStore::Ingest::Write(absl::string_view data) {
  if (done_) return absl::FailedPreconditionError("write after commit");
  hash_.Update(data);
  size_ += data.size();
  return Annotate(WriteAll(fd_.get(), data), "writing blob");
}

absl::StatusOr<Digest> BlobStore::Ingest::Commit(const std::optional<Digest>& expected,
                                                 int64_t expected_size) {
  if (done_) return absl::FailedPreconditionError("blob already committed");
  done_ = true;
  auto fail = [&](absl::Status s) {
    ::unlink(path_.c_str());
    return s;
  };
  Digest got = hash_.Finish();
  if (expected_size >= 0 && size_ != static_cast<uint64_t>(expected_size)) {
    return fail(absl::DataLossError(
        absl::StrCat("size ", size_, " does not match the expected ", expected_size)));
  }
  if (expected && *expected != got) {
    if (expected->algorithm() != "sha256") return fail(Unsupported(*expected));
    return fail(absl::DataLossError(
        absl::StrCat("digest mismatch: content is ", got.str(), ", expected ", expected->str())));
  }
  if (::fsync(fd_.get()) != 0) return fail(ErrnoError("fsync blob"));
  fd_.Reset();
  std::string dest = store_->PathOf(got);
  if (::rename(path_.c_str(), dest.c_str()) != 0) {
    return fail(ErrnoError(absl::StrCat("rename blob into ", dest)));
  }
  RETURN_IF_ERROR(FsyncDir(Dirname(dest)));
  return got;
}

absl::StatusOr<std::unique_ptr<BlobStore::Ingest>> BlobStore::StartIngest() const {
  if (ingest_dir_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(root_, " is open read-only"));
  }
  std::string path = absl::StrCat(ingest_dir_, "/blob-XXXXXX");
  UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("create ", path));
  ::fchmod(fd.get(), 0644);
  (void)::flock(fd.get(), LOCK_EX);  // while this writer lives (see SweepDeadIngests)
  return std::unique_ptr<Ingest>(new Ingest(this, std::move(fd), std::move(path)));
}

absl::Status BlobStore::Link(const std::string& file, const Digest& d, int64_t size) const {
  if (d.algorithm() != "sha256") return Unsupported(d);
  if (ingest_dir_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(root_, " is open read-only"));
  }
  if (Has(d)) return absl::OkStatus();
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return ErrnoError(absl::StrCat("stat ", file));
  if (st.st_size != size) {
    return absl::DataLossError(absl::StrCat(file, " has ", st.st_size, " bytes, want ", size));
  }
  // The name appears with all its bytes at once: it is the same file.
  std::string dest = PathOf(d);
  if (::link(file.c_str(), dest.c_str()) != 0 && errno != EEXIST) {
    return ErrnoError(absl::StrCat("link ", file, " to ", dest));
  }
  return FsyncDir(Dirname(dest));
}

absl::StatusOr<Digest> BlobStore::Put(absl::string_view data) const {
  StringReader r(data);
  return PutFrom(r, std::nullopt, -1);
}

absl::StatusOr<Digest> BlobStore::PutFrom(Reader& from, const std::optional<Digest>& expected,
                                          int64_t expected_size) const {
  if (expected && expected->algorithm() != "sha256") return Unsupported(*expected);
  if (expected && Has(*expected)) {
    // Idempotent: the stored bytes were verified when they were committed. Drain nothing.
    return *expected;
  }
  ASSIGN_OR_RETURN(auto ingest, StartIngest());
  RETURN_IF_ERROR(Copy(from, *ingest).status());
  return ingest->Commit(expected, expected_size);
}

bool BlobStore::Has(const Digest& d) const { return PathExists(PathOf(d)); }

absl::StatusOr<int64_t> BlobStore::Size(const Digest& d) const {
  struct stat st;
  if (::stat(PathOf(d).c_str(), &st) != 0) {
    return ErrnoError(absl::StrCat("blob ", d.str()));
  }
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<std::unique_ptr<Reader>> BlobStore::OpenUnverified(const Digest& d) const {
  if (d.algorithm() != "sha256") return Unsupported(d);
  UniqueFd fd(::open(PathOf(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("blob ", d.str()));
  return std::unique_ptr<Reader>(new OwnedFdReader(std::move(fd)));
}

absl::StatusOr<std::unique_ptr<Reader>> BlobStore::Open(const Digest& d,
                                                        int64_t expected_size) const {
  if (d.algorithm() != "sha256") return Unsupported(d);
  UniqueFd fd(::open(PathOf(d).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(absl::StrCat("blob ", d.str()));
  return oci::NewVerifyingReader(std::make_unique<OwnedFdReader>(std::move(fd)), d, expected_size,
                                 absl::StrCat("blob ", d.str()));
}

absl::StatusOr<std::string> BlobStore::ReadAll(const Digest& d, uint64_t max_size) const {
  ASSIGN_OR_RETURN(auto r, Open(d));
  auto data = ReadAllFrom(*r, max_size);
  if (!data.ok()) return Annotate(data.status(), absl::StrCat("blob ", d.str()));
  return data;
}

absl::Status BlobStore::Verify(const Digest& d) const {
  ASSIGN_OR_RETURN(auto r, Open(d));
  std::vector<char> buf(1 << 20);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
    if (n == 0) return absl::OkStatus();
  }
}

absl::Status BlobStore::Remove(const Digest& d) const {
  if (::unlink(PathOf(d).c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(absl::StrCat("remove blob ", d.str()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Digest>> BlobStore::List() const {
  std::vector<Digest> out;
  std::string dir = absl::StrCat(root_, "/blobs/sha256");
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& name : names) {
    auto digest = Digest::Parse(absl::StrCat("sha256:", name));
    if (digest.ok()) out.push_back(*std::move(digest));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kiln::layers
