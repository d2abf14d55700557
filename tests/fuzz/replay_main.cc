// Runs a fuzz target over every file in the directories given, without
// libFuzzer, so that the ordinary build (GCC, release or ASan) replays the
// corpus and the regressions. A crash or a failed invariant aborts; the exit
// status is 1 when no input was found at all (a wrong path must not pass).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path directory = argv[i];
    if (!std::filesystem::is_directory(directory)) {
      std::printf("replay: %s: no such directory, skipped\n", argv[i]);
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
      if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());  // a stable order, for reproducible runs
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
      // An exactly sized heap copy, as libFuzzer passes it, so ASan sees overreads.
      std::vector<uint8_t> input(bytes.begin(), bytes.end());
      std::fflush(stdout);
      LLVMFuzzerTestOneInput(input.data(), input.size());
      ++ran;
    }
  }
  std::printf("replay: %zu inputs\n", ran);
  return ran > 0 ? 0 : 1;
}
