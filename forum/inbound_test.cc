// The names of forum/inbound.h's and forum/outbox.h's enums: what the database and the logs hold.
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

TEST(OutboxKindTest, NameAndParseRoundTripForEveryValue) {
  for (OutboxKind k : {OutboxKind::kAnswer, OutboxKind::kNotification, OutboxKind::kAcknowledgement,
                       OutboxKind::kRejection}) {
    EXPECT_EQ(ParseOutboxKind(Name(k)), k) << Name(k);
  }
  EXPECT_EQ(Name(OutboxKind::kAcknowledgement), "acknowledgement");
}

TEST(OutboxKindTest, ParseRefusesAnUnknownName) {
  EXPECT_EQ(ParseOutboxKind("reply"), std::nullopt);
  EXPECT_EQ(ParseOutboxKind(""), std::nullopt);
  EXPECT_EQ(ParseOutboxKind("Answer"), std::nullopt);
}

}  // namespace
}  // namespace forum
