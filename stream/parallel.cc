#include "stream/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <utility>

#if defined(VIGIL_TSAN_ANNOTATE)
#include <sanitizer/tsan_interface.h>
#endif

namespace vigil::stream {
namespace {

// The two edges TBB guarantees, on two fixed addresses (parallel.h says why). A task acquires
// the first before it calls into vigil, and releases the second once vigil's code returned.
struct TaskEdges {
  static void fork() { release(&fork_); }
  static void enter() { acquire(&fork_); }
  static void leave() { release(&join_); }
  static void join() { acquire(&join_); }

 private:
#if defined(VIGIL_TSAN_ANNOTATE)
  static void release(char* at) { __tsan_release(at); }
  static void acquire(char* at) { __tsan_acquire(at); }
#else
  static void release(char*) {}
  static void acquire(char*) {}
#endif
  static inline char fork_ = 0;
  static inline char join_ = 0;
};

}  // namespace

void parallelFor(std::size_t n, std::size_t grain, const std::function<void(std::size_t)>& body) {
  TaskEdges::fork();
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      TaskEdges::enter();
                      for (std::size_t i = r.begin(); i != r.end(); ++i) body(i);
                      TaskEdges::leave();
                    });
  TaskEdges::join();
}

void startTask(tbb::task_group& group, std::function<void()> task) {
  TaskEdges::fork();
  group.run([task = std::move(task)] {
    TaskEdges::enter();
    task();
    TaskEdges::leave();
  });
}

void waitTasks(tbb::task_group& group) {
  group.wait();
  TaskEdges::join();
}

}  // namespace vigil::stream
