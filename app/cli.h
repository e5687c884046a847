#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::app {

// Exit codes of every command (SPEC: 0 success, 1 runtime failure, 2 usage or config).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// `--name value` and `--name=value` options of one subcommand; a name may repeat.
class Args {
 public:
  // Parses argv[first..]; `known` lists the accepted option names (without --).
  // On an unknown option or a missing value, returns nullopt and sets `error`.
  static std::optional<Args> parse(int argc, char** argv, int first,
                                   const std::vector<std::string>& known, std::string& error);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;

 private:
  std::multimap<std::string, std::string> values_;
};

}  // namespace vigil::app
