// Linux capabilities by name, and the set a RUN step keeps: Docker's default set, changed by
// --cap-add/--cap-drop (names with or without "CAP_", any case, or "ALL"). A CapabilitySet is
// a plain value (a bit per capability); thread-safe as any value.
#ifndef KILN_BUILDER_SANDBOX_CAPABILITIES_H_
#define KILN_BUILDER_SANDBOX_CAPABILITIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::builder::sandbox {

// The highest capability number this build of kiln knows (CAP_CHECKPOINT_RESTORE).
inline constexpr int kLastCapability = 40;

class CapabilitySet {
 public:
  CapabilitySet() = default;
  // Docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
  // SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
  static CapabilitySet Default();
  // Every capability the kernel knows (RUN --security=insecure).
  static CapabilitySet All();
  // Default(), then `add`, then `drop` ("ALL" in either means every capability). An unknown
  // name is an InvalidArgument error naming it.
  static absl::StatusOr<CapabilitySet> FromFlags(const std::vector<std::string>& add,
                                                 const std::vector<std::string>& drop);

  bool Has(int cap) const { return cap >= 0 && cap < 64 && (bits_ >> cap) & 1; }
  void Add(int cap) { bits_ |= uint64_t{1} << cap; }
  void Remove(int cap) { bits_ &= ~(uint64_t{1} << cap); }
  uint64_t bits() const { return bits_; }
  bool operator==(const CapabilitySet& other) const { return bits_ == other.bits_; }

  // "CAP_CHOWN,CAP_KILL", in number order.
  std::string ToString() const;

 private:
  uint64_t bits_ = 0;
};

// The number of "CAP_SYS_ADMIN", "sys_admin" or "SYS_ADMIN"; -1 when unknown.
int CapabilityFromName(absl::string_view name);
// "CAP_SYS_ADMIN" for 21; "" when unknown.
std::string CapabilityName(int cap);

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_CAPABILITIES_H_
