#include "base/memory.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace base {
namespace {

constexpr uint64_t kMiB = 1u << 20;

// `total` bytes in blocks of `block`, every page written (so it is resident).
std::vector<std::unique_ptr<char[]>> Allocate(uint64_t total, uint64_t block) {
  std::vector<std::unique_ptr<char[]>> blocks;
  for (uint64_t n = 0; n < total; n += block) {
    blocks.emplace_back(new char[block]);
    std::memset(blocks.back().get(), static_cast<int>(n / block), block);
  }
  return blocks;
}

TEST(HeapWorthTrimmingTest, OnlyWhenMoreThanTheSlackIsKeptFree) {
  EXPECT_FALSE(HeapWorthTrimming(HeapStats{.in_use = 10 * kMiB, .held = 12 * kMiB}, 8 * kMiB));
  EXPECT_FALSE(HeapWorthTrimming(HeapStats{.in_use = 10 * kMiB, .held = 18 * kMiB}, 8 * kMiB));
  EXPECT_TRUE(HeapWorthTrimming(HeapStats{.in_use = 10 * kMiB, .held = 19 * kMiB}, 8 * kMiB));
  EXPECT_FALSE(HeapWorthTrimming(HeapStats{.in_use = 10 * kMiB, .held = 9 * kMiB}, 0));  // never negative
}

TEST(HeapStatsTest, CountWhatIsAllocatedUntilItIsFreed) {
  if (!kHeapIsGlibcs) GTEST_SKIP() << "malloc is AddressSanitizer's: glibc's statistics do not see it";
  const HeapStats before = ReadHeapStats();
  auto blocks = Allocate(16 * kMiB, 4096);
  const HeapStats during = ReadHeapStats();
  EXPECT_GE(during.in_use, before.in_use + 16 * kMiB);
  EXPECT_GE(during.held, during.in_use);
  blocks.clear();
  EXPECT_LT(ReadHeapStats().in_use, during.in_use - 15 * kMiB);
}

// The soak's RSS steps (issue 13): freed memory below a block still in use
// stays resident until it is returned.
TEST(ReturnFreeHeapTest, GivesBackTheFreePagesBelowABlockInUse) {
  if (!kHeapIsGlibcs) GTEST_SKIP() << "malloc is AddressSanitizer's: malloc_trim does not reach it";
  ASSERT_TRUE(TuneHeapForDaemon());
  ASSERT_GT(ResidentBytes(), 0u);
  auto blocks = Allocate(64 * kMiB, 4096);
  auto pin = Allocate(4096, 4096);  // above the others: the heap cannot shrink from its top
  const uint64_t resident = ResidentBytes();
  blocks.clear();
  const HeapStats freed = ReadHeapStats();
  EXPECT_GE(freed.free_held(), 60 * kMiB);
  EXPECT_GE(ResidentBytes(), resident - 8 * kMiB) << "glibc returned the freed memory by itself";
  EXPECT_TRUE(HeapWorthTrimming(freed, 32 * kMiB));
  EXPECT_GE(ReturnFreeHeap(), 56 * kMiB);
  EXPECT_LT(ResidentBytes(), resident - 56 * kMiB);
  EXPECT_GE(ReadHeapStats().in_use, 4096u);  // what is in use stays
  EXPECT_EQ(pin[0][0], 0);
}

// The arenas of glibc's malloc that the process has (malloc_info: one <heap> each).
int Arenas() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  if (out == nullptr || malloc_info(0, out) != 0) return -1;
  std::fclose(out);
  int arenas = 0;
  for (const char* p = text; (p = std::strstr(p, "<heap nr=")) != nullptr; ++p) ++arenas;
  std::free(text);
  return arenas;
}

// Threads that allocate at once share at most kHeapArenas arenas.
TEST(TuneHeapForDaemonTest, BoundsTheArenas) {
  if (!kHeapIsGlibcs) GTEST_SKIP() << "malloc is AddressSanitizer's";
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) GTEST_SKIP() << "MALLOC_ARENA_MAX is set";
  ASSERT_TRUE(TuneHeapForDaemon());
  constexpr int kThreads = 8;
  std::mutex mutex;
  std::condition_variable all_allocated;
  int allocated = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      auto block = std::make_unique<char[]>(1024);  // from this thread's arena
      block[0] = 1;
      std::unique_lock lock(mutex);
      ++allocated;
      all_allocated.notify_all();
      all_allocated.wait(lock, [&] { return allocated == kThreads; });  // all alive at once
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GE(Arenas(), 1);
  EXPECT_LE(Arenas(), kHeapArenas);
}

}  // namespace
}  // namespace base
