// The zone file reader: any text in, a Zone or a ZoneFileError out (any other
// exception escapes and ends the run). load_zone_file takes a path, so the
// input goes to a file in a private temporary directory, where a relative
// $INCLUDE finds nothing.
//
// Input: byte 0 picks the origin (bit 0 set: none, taken from the SOA; clear:
// "example.test."), the rest is the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "zones/zone_file.h"

namespace {

std::string make_directory() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/rotor-zone-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

struct TempFile {
  std::string directory = make_directory();
  std::string path = directory + "/zone";
  ~TempFile() {
    std::remove(path.c_str());
    rmdir(directory.c_str());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TempFile file;
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  // An $INCLUDE of a device or a /proc file can block or never end; that is
  // the operator's own file system, not a parser bug.
  for (std::string_view special : {"/dev", "/proc", "/sys"}) {
    if (text.find(special) != std::string_view::npos) return 0;
  }
  FILE* out = std::fopen(file.path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (std::fwrite(text.data(), 1, text.size(), out) != text.size()) std::abort();
  std::fclose(out);
  try {
    rotor::zones::load_zone_file(file.path, (data[0] & 1) != 0 ? "" : "example.test.");
  } catch (const rotor::zones::ZoneFileError&) {
  }
  return 0;
}
