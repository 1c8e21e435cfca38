// main() for fuzz targets in builds without libFuzzer: runs LLVMFuzzerTestOneInput once over
// every file given, or found (recursively) in every directory given. Paths that do not exist
// are reported and skipped; when no input was found at all it exits with 77, which ctest
// reads as "skipped".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr int kSkipped = 77;

void CollectInputs(const std::filesystem::path& path, std::vector<std::filesystem::path>* inputs) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    inputs->push_back(path);
  } else if (std::filesystem::is_directory(path, error)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path, error)) {
      if (entry.is_regular_file(error)) inputs->push_back(entry.path());
    }
  } else {
    std::cerr << "replay: " << path << " not found; skipped\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) CollectInputs(argv[i], &inputs);
  std::sort(inputs.begin(), inputs.end());
  for (const auto& input : inputs) {
    std::ifstream file(input, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                               std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::cout << "replay: " << inputs.size() << " inputs ran\n";
  return inputs.empty() ? kSkipped : 0;
}
