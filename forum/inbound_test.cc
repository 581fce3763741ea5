// The names of forum/inbound.h's enums: what the database and the logs hold.
#include "forum/inbound.h"

#include <gtest/gtest.h>

namespace forum {
namespace {

TEST(ClassificationTest, NameAndParseRoundTripForEveryValue) {
  for (Classification c : {Classification::kNormal, Classification::kAutoReply, Classification::kBounce,
                           Classification::kFeedback, Classification::kDeliveryNotice}) {
    EXPECT_EQ(ParseClassification(Name(c)), c) << Name(c);
  }
  EXPECT_EQ(Name(Classification::kAutoReply), "auto_reply");
  EXPECT_EQ(Name(Classification::kDeliveryNotice), "delivery_notice");
}

TEST(ClassificationTest, ParseRefusesAnUnknownName) {
  EXPECT_EQ(ParseClassification("spam"), std::nullopt);
  EXPECT_EQ(ParseClassification(""), std::nullopt);
  EXPECT_EQ(ParseClassification("Bounce"), std::nullopt);
}

}  // namespace
}  // namespace forum
