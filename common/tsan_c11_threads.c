/*
 * The C11 threads of Debian's librdkafka, as pthreads that ThreadSanitizer sees: linked into every
 * executable of the tsan preset (make test-tsan) and nothing else.
 *
 * librdkafka creates its threads with thrd_create() and locks with mtx_lock()/cnd_wait() (glibc's
 * <threads.h>). g++ 12's ThreadSanitizer runtime intercepts the pthread calls but not these, and
 * glibc implements them with internal calls it cannot intercept either: a thread librdkafka starts
 * is unknown to TSan, whose runtime then dereferences a null thread state and crashes (SEGV near
 * address 0, at the first instrumented call on that thread), and librdkafka's locks order nothing.
 * The definitions below, in the executable, take precedence over glibc's for librdkafka (as TSan's
 * own interceptors do) and do what glibc does, through the pthread calls TSan intercepts. glibc
 * defines mtx_t and cnd_t as pthread_mutex_t and pthread_cond_t of the same size and layout, and
 * casts them the same way. Later runtimes intercept these calls themselves (LLVM 16).
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

static int result_of(int error) {
  switch (error) {
    case 0:
      return thrd_success;
    case ETIMEDOUT:
      return thrd_timedout;
    case EBUSY:
      return thrd_busy;
    case ENOMEM:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

struct start {
  thrd_start_t func;
  void* arg;
};

static void* run(void* p) {
  struct start s = *(struct start*)p;
  free(p);
  return (void*)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t* thread, thrd_start_t func, void* arg) {
  struct start* s = malloc(sizeof *s);
  if (s == NULL) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  const int error = pthread_create((pthread_t*)thread, NULL, run, s);
  if (error != 0) free(s);
  return result_of(error);
}

int thrd_join(thrd_t thread, int* result) {
  void* value = NULL;
  const int error = pthread_join((pthread_t)thread, &value);
  if (error == 0 && result != NULL) *result = (int)(intptr_t)value;
  return result_of(error);
}

int mtx_init(mtx_t* mutex, int type) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
  const int error = pthread_mutex_init((pthread_mutex_t*)mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  return result_of(error);
}

int mtx_lock(mtx_t* mutex) { return result_of(pthread_mutex_lock((pthread_mutex_t*)mutex)); }

int mtx_trylock(mtx_t* mutex) { return result_of(pthread_mutex_trylock((pthread_mutex_t*)mutex)); }

int mtx_timedlock(mtx_t* restrict mutex, const struct timespec* restrict until) {
  return result_of(pthread_mutex_timedlock((pthread_mutex_t*)mutex, until));
}

int mtx_unlock(mtx_t* mutex) { return result_of(pthread_mutex_unlock((pthread_mutex_t*)mutex)); }

void mtx_destroy(mtx_t* mutex) { pthread_mutex_destroy((pthread_mutex_t*)mutex); }

int cnd_init(cnd_t* cond) { return result_of(pthread_cond_init((pthread_cond_t*)cond, NULL)); }

int cnd_signal(cnd_t* cond) { return result_of(pthread_cond_signal((pthread_cond_t*)cond)); }

int cnd_broadcast(cnd_t* cond) { return result_of(pthread_cond_broadcast((pthread_cond_t*)cond)); }

int cnd_wait(cnd_t* cond, mtx_t* mutex) {
  return result_of(pthread_cond_wait((pthread_cond_t*)cond, (pthread_mutex_t*)mutex));
}

int cnd_timedwait(cnd_t* restrict cond, mtx_t* restrict mutex,
                  const struct timespec* restrict until) {
  return result_of(
      pthread_cond_timedwait((pthread_cond_t*)cond, (pthread_mutex_t*)mutex, until));
}

void cnd_destroy(cnd_t* cond) { pthread_cond_destroy((pthread_cond_t*)cond); }

void call_once(once_flag* flag, void (*func)(void)) { pthread_once((pthread_once_t*)flag, func); }
