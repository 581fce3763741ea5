#include "base/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace base {

HeapStats ReadHeapStats() {
  const struct mallinfo2 m = mallinfo2();
  // arena: bytes of the arenas' heaps (sbrk and their mmapped heaps); hblkhd: blocks mapped on their own.
  return HeapStats{.in_use = m.uordblks + m.hblkhd, .held = m.arena + m.hblkhd};
}

bool TuneHeapForDaemon() {
  const bool arenas = std::getenv("MALLOC_ARENA_MAX") != nullptr || mallopt(M_ARENA_MAX, kHeapArenas) == 1;
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHeapMmapThreshold)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(kHeapTrimThreshold)) == 1 && arenas;
}

uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const bool read = std::fscanf(f, "%lu %lu", &size, &resident) == 2;
  std::fclose(f);
  return read ? static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

uint64_t ReturnFreeHeap() {
  const uint64_t before = ResidentBytes();
  malloc_trim(0);
  const uint64_t after = ResidentBytes();
  return before > after ? before - after : 0;
}

}  // namespace base
