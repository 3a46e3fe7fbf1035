// Closing every inherited descriptor but a few, for processes cloned from a multi-threaded
// kiln that do not exec (they would otherwise keep other threads' pipes open). Only
// close_range(2) is called: safe in a child between clone and exec.
#ifndef KILN_BUILDER_SANDBOX_CLOSE_FDS_H_
#define KILN_BUILDER_SANDBOX_CLOSE_FDS_H_

#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace kiln::builder::sandbox {

// Closes every descriptor >= 3 except the `n` in `keep` (n <= 16; negative entries ignored).
inline void CloseAllExcept(const int* keep, size_t n) {
  int sorted[16];
  size_t m = 0;
  for (size_t i = 0; i < n && m < 16; ++i) {
    if (keep[i] < 3) continue;
    size_t j = m++;
    while (j > 0 && sorted[j - 1] > keep[i]) {
      sorted[j] = sorted[j - 1];
      --j;
    }
    sorted[j] = keep[i];
  }
  unsigned next = 3;
  for (size_t i = 0; i < m; ++i) {
    unsigned fd = static_cast<unsigned>(sorted[i]);
    if (fd > next) ::syscall(SYS_close_range, next, fd - 1, 0);
    if (fd + 1 > next) next = fd + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0);
}

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_CLOSE_FDS_H_
