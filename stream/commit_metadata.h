#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "detectors/time.h"
#include "stream/record.h"

namespace vigil::stream {

// What `detect` keeps beside each committed input offset, so that whoever
// reads the partition next can rebuild its windows (DESIGN: state rebuild):
// where to re-read from (the oldest record a window still needs), and, per
// dataset reading the topic, the newest step end whose events were all
// acknowledged when the offset was committed. Evaluations up to that step end
// are repeated silently after a restart or a rebalance: they rebuild the alert
// lifecycles without emitting an event twice.
//
// Encoded as a small JSON object, versioned:
//   {"vigil":1,"reread":1234,"through":{"orders":1737000000000}}
struct CommitMetadata {
  Offset reread = 0;
  std::map<std::string, detectors::Timestamp> evaluated_through;  // by dataset name

  std::string encode() const;
  // nullopt for anything else (another tool's metadata, a later version, damage).
  static std::optional<CommitMetadata> decode(std::string_view text);

  friend bool operator==(const CommitMetadata&, const CommitMetadata&) = default;
};

}  // namespace vigil::stream
