// Runs every file of the given corpus folders (or single files) through the harness's
// LLVMFuzzerTestOneInput, in name order: the ctest replay of a corpus, built with the project's
// normal toolchain. A broken invariant aborts; an empty or missing corpus fails too, so a wrong
// path cannot pass by replaying nothing.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "fuzz/check.h"

namespace {

bool readAll(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::size_t total = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::vector<std::filesystem::path> files;
    std::error_code error;
    if (std::filesystem::is_directory(arg, error)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg, error)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::is_regular_file(arg, error)) {
      files.push_back(arg);
    }
    if (error || files.empty()) {
      std::fprintf(stderr, "%s: no inputs (%s)\n", argv[i],
                   error ? error.message().c_str() : "empty or missing");
      return 1;
    }
    for (const auto& file : files) {
      std::vector<std::uint8_t> data;
      if (!readAll(file, data)) {
        std::fprintf(stderr, "%s: cannot read\n", file.c_str());
        return 1;
      }
      // A failure names the input before the harness aborts.
      std::fprintf(stderr, "replay %s (%zu bytes)\n", file.c_str(), data.size());
      LLVMFuzzerTestOneInput(data.data(), data.size());
      ++total;
    }
  }
  std::printf("replayed %zu inputs\n", total);
  return 0;
}
