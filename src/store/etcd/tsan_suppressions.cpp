// ThreadSanitizer's suppressions, built into every program that links the etcd client when
// it is built with -fsanitize=thread (and only then). They must never hide a report whose
// stacks hold only our own code.
//
// Debian's gRPC and Abseil are not instrumented: ThreadSanitizer sees their memory accesses
// only through its interceptors (memmove, delete, epoll) and never the atomics and futexes
// that order them, so it reports races between their own threads. A report with one of
// their frames in either stack is dropped.
//
// gRPC also ends some threads of its own executor without joining them: a thread leak whose
// creating stack is gRPC's (grpc_core::Thread, in libgpr) is dropped too.
//
// Weak: a test binary can get this file twice (from the client library and from an object
// library that uses it), and the copies are the same.
extern "C" __attribute__((weak)) const char* __tsan_default_suppressions() {
  return "race:libgrpc\n"  // libgrpc.so and libgrpc++.so
         "race:libgpr.so\n"
         "race:libabsl_\n"
         "thread:libgpr.so\n";
}
