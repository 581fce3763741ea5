// The process's heap (glibc's malloc), read and tuned in this one place.
//
// Why a daemon tunes it (issue 13, the soak; docs/admin-guide.md, "Memory"):
// glibc keeps memory a program freed for its next allocations instead of
// giving it back to the system, so the resident size (RSS) records the
// largest burst of work, not the work in hand. Two of its habits make that
// grow in steps over days: its mmap threshold rises to the largest block
// ever freed (up to 32 MiB), after which large buffers — a batch's message
// bodies after an outage — come from the heap and stay there, and the heap
// is only shrunk from its top, so one live block above the freed ones keeps
// them all. TuneHeapForDaemon() pins the thresholds and bounds the arenas; ReturnFreeHeap() hands
// the free pages inside the heap back (malloc_trim).
//
// Under AddressSanitizer malloc is ASan's (kHeapIsGlibcs): ReadHeapStats()
// then reads glibc's own (nearly idle) heap, and the rest does nothing
// useful; harmless.
//
// Thread-safety: every function may be called from any thread (malloc locks
// its arenas); TuneHeapForDaemon() is meant for the start, before threads.
#ifndef MAILFORUM_BASE_MEMORY_H_
#define MAILFORUM_BASE_MEMORY_H_

#include <cstdint>

namespace base {

// Whether malloc is glibc's (false under AddressSanitizer, whose malloc the
// functions below neither see nor tune).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kHeapIsGlibcs = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kHeapIsGlibcs = false;
#else
inline constexpr bool kHeapIsGlibcs = true;
#endif
#else
inline constexpr bool kHeapIsGlibcs = true;
#endif

struct HeapStats {
  uint64_t in_use = 0;  // bytes handed out by malloc and not yet freed
  uint64_t held = 0;    // bytes malloc holds from the system: in use, plus free but kept
  uint64_t free_held() const { return held > in_use ? held - in_use : 0; }
};

// The heap now, over every arena and the blocks mapped on their own (mallinfo2).
HeapStats ReadHeapStats();

// Blocks of this size or more are mapped on their own and unmapped when freed
// (glibc's initial threshold, kept instead of rising with the largest block
// freed), and free memory above this much at the top of a heap is returned.
inline constexpr uint64_t kHeapMmapThreshold = 128u << 10;
inline constexpr uint64_t kHeapTrimThreshold = 1u << 20;

// Every thread allocates from one of at most this many arenas (glibc's
// default is 8 per core). Each arena keeps its own free memory and its own
// fragments, and the daemon starts short-lived threads for each batch (a
// fetch and a record beside the work in hand, the outbox's next claim), which
// spread over new arenas: in the soak their resident size grew from 2 to
// 6 MiB for under 1 MiB in use. Two measured no slower on ingest (issue 10).
// MALLOC_ARENA_MAX in the environment, when set, wins.
inline constexpr int kHeapArenas = 2;

// Sets the two thresholds and the arena limit above (mallopt), which also
// turns glibc's adjustment of the thresholds off. Returns false if malloc
// refused (not glibc's).
bool TuneHeapForDaemon();

// This process's resident size (RSS) in bytes (/proc/self/statm); 0 if unreadable.
uint64_t ResidentBytes();

// Gives the free pages of every arena back to the system (malloc_trim(0));
// what is in use is untouched. The heap keeps its address space (`held` does
// not change), only the pages go. Returns how much the resident size fell
// (0 when it did not).
uint64_t ReturnFreeHeap();

// Whether a heap is worth a ReturnFreeHeap(): when what it keeps free exceeds
// `slack`. (Free pages already returned still count as kept: a caller that
// asks every few seconds trims again, which costs a walk over the free lists
// and gives back what was used and freed meanwhile.)
inline bool HeapWorthTrimming(const HeapStats& stats, uint64_t slack) { return stats.free_held() > slack; }

}  // namespace base

#endif  // MAILFORUM_BASE_MEMORY_H_
