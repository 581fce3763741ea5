// forum/subscriptions.h's pure part: what the unsubscribe of a mail stops.
#include "forum/subscriptions.h"

#include <gtest/gtest.h>

namespace forum {
namespace {

TEST(ScopeOfMailTest, EachKindStopsWhatTheHeaderSays) {
  EXPECT_EQ(ScopeOfMail(OutboxKind::kAnswer, 12, "it"), "thread:12");
  EXPECT_EQ(ScopeOfMail(OutboxKind::kNotification, 12, "it"), "category:it");
  EXPECT_EQ(ScopeOfMail(OutboxKind::kAcknowledgement, std::nullopt, ""), "acknowledgements");
  EXPECT_EQ(ScopeOfMail(OutboxKind::kRejection, 12, "it"), "");
}

TEST(ScopeOfMailTest, MailWithoutTheThreadOrCategoryItNeedsHasNone) {
  EXPECT_EQ(ScopeOfMail(OutboxKind::kAnswer, std::nullopt, "it"), "");
  EXPECT_EQ(ScopeOfMail(OutboxKind::kNotification, 12, ""), "");
}

}  // namespace
}  // namespace forum
