// kiln's version, as `kiln version`, provenance and SBOMs name it.
#ifndef KILN_BASE_VERSION_H_
#define KILN_BASE_VERSION_H_

namespace kiln {

inline constexpr char kKilnVersion[] = "0.1.0";

}  // namespace kiln

#endif  // KILN_BASE_VERSION_H_
