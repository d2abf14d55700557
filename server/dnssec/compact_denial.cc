#include "server/dnssec/compact_denial.h"

namespace rotor::dnssec {

size_t nxname_nsec_rdata(std::string_view owner, uint8_t* out) noexcept {
  if (owner.empty() || owner.size() + 2 > 255) return 0;
  size_t size = 0;
  out[size++] = 1;  // the label "\000"
  out[size++] = 0;
  std::memcpy(out + size, owner.data(), owner.size());
  size += owner.size();
  // Window 0 up to type 128 (NXNAME): 17 octets; RRSIG (46), NSEC (47).
  constexpr uint16_t kTypes[] = {46, 47, kTypeNxname};
  constexpr size_t kBitmapLength = kTypeNxname / 8 + 1;
  out[size++] = 0;
  out[size++] = kBitmapLength;
  uint8_t* bitmap = out + size;
  std::memset(bitmap, 0, kBitmapLength);
  for (const uint16_t type : kTypes) bitmap[type / 8] |= static_cast<uint8_t>(0x80 >> (type % 8));
  return size + kBitmapLength;
}

}  // namespace rotor::dnssec
