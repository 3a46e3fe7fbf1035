#include "builder/sandbox/device_filter.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::builder::sandbox {
namespace {

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn insn = {};
  insn.code = code;
  insn.dst_reg = dst;
  insn.src_reg = src;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

uint32_t AccessBits(const std::string& access) {
  uint32_t bits = 0;
  for (char c : access) {
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
  }
  return bits;
}

long Bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof *attr); }

}  // namespace

std::string DeviceRule::ToString() const {
  auto number = [](int64_t n) { return n < 0 ? std::string("*") : absl::StrCat(n); };
  return absl::StrCat(std::string(1, type), " ", number(major), ":", number(minor), " ", access);
}

const std::vector<DeviceRule>& DefaultDeviceRules() {
  static const std::vector<DeviceRule>* rules = new std::vector<DeviceRule>{
      {'c', -1, -1, "m"},    {'b', -1, -1, "m"},  // mknod of any node
      {'c', 1, 3, "rwm"},                         // null
      {'c', 1, 5, "rwm"},                         // zero
      {'c', 1, 7, "rwm"},                         // full
      {'c', 1, 8, "rwm"},                         // random
      {'c', 1, 9, "rwm"},                         // urandom
      {'c', 5, 0, "rwm"},                         // tty
      {'c', 5, 1, "rwm"},                         // console
      {'c', 5, 2, "rwm"},                         // ptmx
      {'c', 136, -1, "rwm"},                      // pts/*
  };
  return *rules;
}

// r2: access type << 16 | device type, then split into r3 (device type) and r2 (access);
// r4 major, r5 minor. Each rule is a block that jumps to the next block on a mismatch and
// returns 1 at its end; after the last block the program returns 0.
std::vector<bpf_insn> DeviceProgram(const std::vector<DeviceRule>& allow) {
  std::vector<bpf_insn> p;
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0));
  p.push_back(Insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_3, 0, 0, 0xFFFF));
  p.push_back(Insn(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_2, 0, 0, 16));
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
  p.push_back(Insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
  for (const DeviceRule& rule : allow) {
    std::vector<bpf_insn> block;
    // A jump's offset is filled in below as "to the end of this block".
    std::vector<size_t> to_next;
    if (rule.type == 'c' || rule.type == 'b') {
      int32_t type = rule.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
      to_next.push_back(block.size());
      block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 0, type));
    }
    // Every access asked for must be one the rule grants.
    block.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_2, 0, 0));
    block.push_back(Insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_6, 0, 0,
                         static_cast<int32_t>(~AccessBits(rule.access) & 0x7)));
    to_next.push_back(block.size());
    block.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_6, 0, 0, 0));
    if (rule.major >= 0) {
      to_next.push_back(block.size());
      block.push_back(
          Insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, static_cast<int32_t>(rule.major)));
    }
    if (rule.minor >= 0) {
      to_next.push_back(block.size());
      block.push_back(
          Insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, static_cast<int32_t>(rule.minor)));
    }
    block.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
    block.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t at : to_next) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
  p.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

absl::StatusOr<UniqueFd> LoadDeviceProgram(const std::vector<DeviceRule>& allow) {
  std::vector<bpf_insn> program = DeviceProgram(allow);
  static const char kLicense[] = "Apache-2.0";
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  int err = errno;
  // Once more with the verifier's log, to say why.
  std::string log(1 << 16, '\0');
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) ::close(static_cast<int>(fd));
  log.resize(std::strlen(log.c_str()));
  return ErrnoError(
      absl::StrCat("load the device filter", log.empty() ? "" : absl::StrCat(" (", log, ")")), err);
}

absl::Status AttachDeviceProgram(int cgroup_fd, int program_fd) {
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cgroup_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(program_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(BPF_PROG_ATTACH, &attr) != 0) return ErrnoError("attach the device filter");
  return absl::OkStatus();
}

}  // namespace kiln::builder::sandbox
