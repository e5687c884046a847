#include "common/secrets.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace vigil::secrets {
namespace {

std::shared_mutex g_mutex;
std::vector<std::string> g_secrets;  // longest first, so a secret holding another goes whole

}  // namespace

void add(std::string value) {
  if (value.size() < kMinLength) return;
  std::unique_lock lock(g_mutex);
  if (std::find(g_secrets.begin(), g_secrets.end(), value) != g_secrets.end()) return;
  g_secrets.push_back(std::move(value));
  std::stable_sort(g_secrets.begin(), g_secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string redact(std::string text) {
  std::shared_lock lock(g_mutex);
  for (const std::string& secret : g_secrets) {
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + kRedacted.size())) {
      text.replace(at, secret.size(), kRedacted);
    }
  }
  return text;
}

void clear() {
  std::unique_lock lock(g_mutex);
  g_secrets.clear();
}

}  // namespace vigil::secrets
