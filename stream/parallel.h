#pragma once

// The TBB calls of the detect service, in stream/parallel.cc.
//
// Debian's oneTBB (libtbb.so and libtbbmalloc.so) is not built with ThreadSanitizer, so TSan does
// not see how TBB hands a task to a worker thread (task queues, work stealing, waits: plain
// atomics and futexes inside the library), and every object handed over would be reported as a
// race (google/sanitizers#1004; oneTBB's answer is to rebuild it with TSan,
// uxlfoundation/oneTBB#358). So under TSan the TBB templates are kept out of the instrumented
// code: parallel.cc, their only user, is compiled without -fsanitize=thread (stream/CMakeLists.txt),
// and TaskEdges states to TSan the two edges TBB guarantees, with its annotations: a task starts
// after what its spawning thread did before spawning it, and a wait returns after the tasks ended.
// Nothing more: tasks stay unordered among themselves and with what other threads do meanwhile
// (the poll that overlaps processing), so a race there is still found. In any other build the
// annotations are empty.

#include <tbb/task_group.h>

#include <cstddef>
#include <functional>

namespace vigil::stream {

// body(i) for every i in [0, n), in blocks of at least `grain`, in the current arena; returns
// when all are done.
void parallelFor(std::size_t n, std::size_t grain, const std::function<void(std::size_t)>& body);

// Starts `task` in `group` (call it inside the arena); waitTasks(group) waits for it.
void startTask(tbb::task_group& group, std::function<void()> task);
void waitTasks(tbb::task_group& group);

}  // namespace vigil::stream
