#include "engine/search_ahead.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/testing/fakes.h"

namespace engine {
namespace {

using testing::FakeLedger;
using testing::LedgerOp;

TEST(SearchAheadTest, MakesTheVectorsOfWhatWasAddedByIndexInRoundTripsOfBoundedText) {
  FakeLedger ledger;
  const std::string big(60 * 1024, 'x');
  {
    SearchAhead ahead(ledger);
    ahead.Add(0, "first");
    ahead.Add(2, big);
    ahead.Add(3, "");                                                // nothing to search: left out
    ahead.Add(4, std::string(SearchAhead::kMaxTextBytes + 1, 'y'));  // left to the recording
    ahead.Add(5, big + "z");
    ahead.Add(7, big + "zz");
    const auto made = ahead.Finish();
    ASSERT_EQ(made.size(), 4u);
    EXPECT_EQ(made.at(0).vector, "vector of first");
    EXPECT_EQ(made.at(0).text_hash, std::hash<std::string>{}("first"));
    EXPECT_EQ(made.at(7).vector, "vector of " + big + "zz");
  }
  EXPECT_EQ(ledger.searched.size(), 4u);
  EXPECT_GE(ledger.largest_search_call, big.size());
  EXPECT_LE(ledger.largest_search_call, SearchAhead::kMaxBytesPerCall);
}

TEST(SearchAheadTest, AFailedRoundTripEndsTheMakingAheadAndMakesNothingOfItsTexts) {
  FakeLedger ledger;
  ledger.FailNext(LedgerOp::kMakeSearchVectors, base::Error{base::ErrorKind::kTransient, "connection lost"});
  SearchAhead ahead(ledger);
  ahead.Add(0, "first");
  const auto made = ahead.Finish();
  EXPECT_TRUE(made.empty());
  EXPECT_TRUE(ledger.searched.empty());
}

TEST(SearchAheadTest, NothingAddedAsksNothing) {
  FakeLedger ledger;
  EXPECT_TRUE(SearchAhead(ledger).Finish().empty());
  { SearchAhead destroyed_unfinished(ledger); }
  EXPECT_TRUE(ledger.searched.empty());
}

}  // namespace
}  // namespace engine
