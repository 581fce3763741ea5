#include "bench/corpus_generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

namespace bench {
namespace {

TEST(CorpusGeneratorTest, SameSeedGivesTheSameBytes) {
  const std::vector<CorpusMessage> a = GenerateCorpus(7, 60);
  const std::vector<CorpusMessage> b = GenerateCorpus(7, 60);
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(b.size(), 60u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].raw, b[i].raw) << "message " << i;
  // One message alone is the same as in the corpus.
  EXPECT_EQ(GenerateMessage(PlanCorpus(7, 60)[13]), a[13].raw);
  // Another seed, another corpus.
  const std::vector<CorpusMessage> c = GenerateCorpus(8, 60);
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i].raw == c[i].raw ? 1 : 0;
  EXPECT_EQ(same, 0u);
}

TEST(CorpusGeneratorTest, FollowsTheFixedSizeDistribution) {
  const std::vector<MessagePlan> plans = PlanCorpus(1, 1000);
  std::map<SizeClass, int> count;
  for (const MessagePlan& p : plans) {
    ++count[p.size_class];
    switch (p.size_class) {
      case SizeClass::kSmall:
        EXPECT_GE(p.target_size, 1024u);
        EXPECT_LE(p.target_size, 16u * 1024);
        break;
      case SizeClass::kMedium:
        EXPECT_GE(p.target_size, 16u * 1024);
        EXPECT_LE(p.target_size, 100u * 1024);
        break;
      case SizeClass::kLarge:
        EXPECT_GE(p.target_size, 100u * 1024);
        EXPECT_LE(p.target_size, 1024u * 1024);
        break;
      case SizeClass::kHuge:
        EXPECT_EQ(p.target_size, 5u * 1024 * 1024);
        EXPECT_EQ(p.kind, MailKind::kHtmlWithAttachments);
        break;
    }
  }
  EXPECT_EQ(count[SizeClass::kHuge], 5);
  EXPECT_EQ(count[SizeClass::kLarge], 80);
  EXPECT_EQ(count[SizeClass::kMedium], 200);
  EXPECT_EQ(count[SizeClass::kSmall], 715);
  // A corpus of one still holds the largest size.
  EXPECT_EQ(PlanCorpus(1, 1)[0].size_class, SizeClass::kHuge);
}

// Every message is well-formed mail that comes out of our parser as the kind
// it was made to be, close to its planned size.
TEST(CorpusGeneratorTest, MessagesAreTheMailTheyClaimToBe) {
  for (const CorpusMessage& m : GenerateCorpus(3, 200)) {
    SCOPED_TRACE("message " + std::to_string(m.plan.index) + " " + std::string(MailKindName(m.plan.kind)));
    const size_t target = m.plan.target_size;
    const bool small = m.plan.size_class == SizeClass::kSmall;
    EXPECT_GE(m.raw.size(), target * (small ? 60 : 85) / 100);
    EXPECT_LE(m.raw.size(), target * (small ? 170 : 115) / 100);
    const mail::Message message = mail::ParseMessage(m.raw);
    EXPECT_TRUE(message.warnings.empty()) << message.warnings.front();
    EXPECT_FALSE(message.subject.empty());
    EXPECT_TRUE(message.from.has_value());
    EXPECT_FALSE(message.text_body.empty());
    EXPECT_EQ(mail::Classify(message).kind, mail::MessageKind::kNormal);
    const mail::TrimResult trimmed = mail::TrimReply(message.text_body);
    EXPECT_FALSE(trimmed.trimmed.empty());
    if (m.plan.kind == MailKind::kTopPostedReply) {
      EXPECT_FALSE(trimmed.elided.empty()) << "the quoted history is recognised";
      EXPECT_FALSE(message.in_reply_to.empty());
    }
    if (m.plan.kind == MailKind::kHtmlWithAttachments && m.plan.size_class != SizeClass::kSmall &&
        m.plan.size_class != SizeClass::kMedium) {
      EXPECT_FALSE(message.attachments.empty());
      EXPECT_FALSE(message.html_body.empty());
    }
  }
}

}  // namespace
}  // namespace bench
