// forum::Reader (the web's read side) and the schema it reads (migration
// 0006: counts, change times, search vectors, notifications kept by
// triggers) against the real PostgreSQL of scripts/test. Data is made
// through Store::RecordBatch, as the daemon makes it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "forum/reader.h"
#include "forum/scratch_database.h"
#include "forum/store.h"
#include "forum/store_fixture.h"

namespace forum {
namespace {

constexpr char kDomain[] = "help.example";

class ReaderTest : public ScratchStoreTest {
 protected:
  ReaderTest()
      : ScratchStoreTest("reader", {{"general", "General", "Anything at all"},
                                    {"it", "IT", "Computers"},
                                    {"staff", "Staff", "Private matters", /*is_public=*/false}}) {}

  void SetUp() override {
    ScratchStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto reader = Reader::Connect(dsn_);
    ASSERT_TRUE(reader) << reader.error().message;
    reader_ = std::move(reader).value();
  }

  struct Made {
    int64_t thread_id = 0;
    int64_t post_id = 0;
  };

  // Records one post through RecordBatch: a new thread when `thread` is 0.
  Made Post(int64_t thread, const std::string& category, const std::string& subject, const std::string& body,
            const std::string& elided = "", const std::string& author = "alice@example.com",
            std::vector<AttachmentDraft> attachments = {}) {
    InboundItem item;
    item.mailbox = "help";
    item.uidvalidity = 1;
    item.uid = ++uid_;
    item.message_id = "m" + std::to_string(uid_) + "@client";
    item.from_address = author;
    item.message_key = item.message_id + " " + author;
    item.subject = subject;
    item.classification = Classification::kNormal;
    item.outcome = Outcome::kPosted;
    PostDraft post;
    if (thread != 0) post.thread_id = thread;
    post.category = category;
    post.subject = subject;
    post.author_address = author;
    post.author_name = "Person " + std::to_string(uid_);
    post.body = body;
    post.elided = elided;
    post.attachments = std::move(attachments);
    item.post = post;
    auto batch = store_->RecordBatch({item}, kDomain);
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch || !(*batch)[0]) {
      ADD_FAILURE() << "the post was not recorded";
      return {};
    }
    return Made{*(*batch)[0]->thread_id, *(*batch)[0]->post_id};
  }

  std::vector<SearchHit> Hits(const std::string& text, std::optional<std::string> category = std::nullopt) {
    SearchQuery query;
    query.text = text;
    query.category_slug = std::move(category);
    auto results = reader_->Search(query);
    EXPECT_TRUE(results) << results.error().message;
    return results ? results->hits : std::vector<SearchHit>{};
  }

  uint32_t uid_ = 0;
  std::unique_ptr<Reader> reader_;
};

AttachmentDraft Attachment(const std::string& name, const std::string& content, const std::string& sha256) {
  return AttachmentDraft{name, "text/plain", "", sha256, content};
}

TEST_F(ReaderTest, ThreadWithPostsAttachmentsCountsAndNoPrivateCategory) {
  const Made q = Post(0, "it", "Printer jams", "The printer jams on Tuesdays.", "> old\n-- \nAlice");
  const Made a = Post(q.thread_id, "", "", "Clean the rollers.", "", "bob@example.com",
                      {Attachment("rollers.txt", "how to clean rollers", std::string(64, 'a')),
                       Attachment("photo.txt", "xyz", std::string(64, 'b'))});

  auto view = reader_->GetThread(q.thread_id);
  ASSERT_TRUE(view) << view.error().message;
  ASSERT_TRUE(view->has_value());
  const ThreadView& t = **view;
  EXPECT_EQ(t.thread.subject, "Printer jams");
  EXPECT_EQ(t.thread.status, "answered");
  EXPECT_EQ(t.thread.category_slug, "it");
  EXPECT_EQ(t.thread.category_name, "IT");
  EXPECT_EQ(t.category_description, "Computers");
  EXPECT_EQ(t.thread.reply_count, 1);
  EXPECT_EQ(t.thread.author.address, "alice@example.com");
  EXPECT_EQ(t.reply_address, "");  // not filled in yet
  ASSERT_EQ(t.posts.size(), 2u);
  EXPECT_EQ(t.posts[0].id, q.post_id);
  EXPECT_EQ(t.posts[0].body, "The printer jams on Tuesdays.");
  EXPECT_EQ(t.posts[0].elided, "> old\n-- \nAlice");
  EXPECT_TRUE(t.posts[0].attachments.empty());
  EXPECT_EQ(t.posts[1].id, a.post_id);
  EXPECT_EQ(t.posts[1].author.address, "bob@example.com");
  ASSERT_EQ(t.posts[1].attachments.size(), 2u);
  EXPECT_EQ(t.posts[1].attachments[0].position, 0);
  EXPECT_EQ(t.posts[1].attachments[0].filename, "rollers.txt");
  EXPECT_EQ(t.posts[1].attachments[0].size, 20);
  EXPECT_EQ(t.posts[1].attachments[1].filename, "photo.txt");
  EXPECT_GE(t.thread.changed_at, t.thread.last_post_at);

  auto bytes = reader_->GetAttachment(a.post_id, 0);
  ASSERT_TRUE(bytes && bytes->has_value());
  EXPECT_EQ((*bytes)->bytes, "how to clean rollers");
  EXPECT_EQ((*bytes)->filename, "rollers.txt");
  EXPECT_FALSE(reader_->GetAttachment(a.post_id, 2)->has_value());

  auto changed = reader_->ThreadChangedAt(q.thread_id);
  ASSERT_TRUE(changed && changed->has_value());
  EXPECT_EQ(**changed, t.thread.changed_at);
  EXPECT_FALSE(reader_->GetThread(q.thread_id + 1000)->has_value());

  auto categories = reader_->PublicCategories();
  ASSERT_TRUE(categories) << categories.error().message;
  ASSERT_EQ(categories->size(), 2u);
  EXPECT_EQ((*categories)[0].slug, "general");
  EXPECT_EQ((*categories)[0].thread_count, 0);
  EXPECT_EQ((*categories)[1].slug, "it");
  EXPECT_EQ((*categories)[1].thread_count, 1);
  EXPECT_EQ((*categories)[1].description, "Computers");
  auto it = reader_->PublicCategory("it");
  ASSERT_TRUE(it && it->has_value());
  EXPECT_EQ((*it)->name, "IT");
  EXPECT_FALSE(reader_->PublicCategory("nope")->has_value());
}

TEST_F(ReaderTest, PrivateCategoryIsNotFoundAnywhere) {
  const Made open = Post(0, "general", "Payroll question in public", "When is payroll day?");
  const Made secret =
      Post(0, "staff", "Payroll of the staff", "The payroll numbers.", "", "carol@example.com",
           {Attachment("salaries.txt", "secret numbers", std::string(64, 'c'))});

  auto list = reader_->ListThreads(ThreadQuery{});
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->threads.size(), 1u);
  EXPECT_EQ(list->threads[0].id, open.thread_id);
  ThreadQuery in_staff;
  in_staff.category_slug = "staff";
  auto staff_list = reader_->ListThreads(in_staff);
  ASSERT_TRUE(staff_list) << staff_list.error().message;
  EXPECT_TRUE(staff_list->threads.empty());

  EXPECT_FALSE(reader_->PublicCategory("staff")->has_value());
  auto categories = reader_->PublicCategories();
  ASSERT_TRUE(categories) << categories.error().message;
  for (const CategoryView& c : *categories) EXPECT_NE(c.slug, "staff");
  EXPECT_FALSE(reader_->GetThread(secret.thread_id)->has_value());
  EXPECT_FALSE(reader_->ThreadChangedAt(secret.thread_id)->has_value());
  EXPECT_FALSE(reader_->GetAttachment(secret.post_id, 0)->has_value());

  const auto hits = Hits("payroll");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].thread.id, open.thread_id);
  EXPECT_TRUE(Hits("payroll", "staff").empty());
  EXPECT_TRUE(Hits("salaries numbers").empty());

  // The same threads appear once their category is made public.
  ASSERT_TRUE(store_->SyncCategories({{"staff", "Staff", "", true}}).ok());
  EXPECT_TRUE(reader_->GetThread(secret.thread_id)->has_value());
  EXPECT_EQ(Hits("payroll").size(), 2u);
}

TEST_F(ReaderTest, QuotedHistoryIsNeverSearched) {
  const Made t = Post(0, "general", "Coffee machine", "It makes noise.",
                      "> On Monday Bob wrote:\n> the zanzibar incident\n-- \nAlice, zanzibar office");
  EXPECT_TRUE(Hits("zanzibar").empty());
  const auto hits = Hits("noise");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].thread.id, t.thread_id);
  // An answer that only quotes it adds nothing either.
  Post(t.thread_id, "", "", "Me too.", "> zanzibar", "bob@example.com");
  EXPECT_TRUE(Hits("zanzibar").empty());
}

TEST_F(ReaderTest, SubjectMatchRanksFirst) {
  const Made in_subject = Post(0, "general", "Kerberos tickets expire", "Since Monday I log in twice.");
  // Newer threads that say the word many times, in their bodies only.
  const Made in_bodies =
      Post(0, "it", "Login trouble", "kerberos kerberos kerberos. Kerberos again, kerberos.");
  Post(in_bodies.thread_id, "", "", "Yes kerberos, kerberos and kerberos.", "", "bob@example.com");
  const Made other = Post(0, "general", "Another one", "Is kerberos down? kerberos kerberos");
  const auto hits = Hits("kerberos");
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].thread.id, in_subject.thread_id);
  EXPECT_GT(hits[0].rank, hits[1].rank);
  std::set<int64_t> rest{hits[1].thread.id, hits[2].thread.id};
  EXPECT_EQ(rest, (std::set<int64_t>{in_bodies.thread_id, other.thread_id}));
  // websearch syntax: -word excludes.
  const auto without = Hits("kerberos -twice");
  EXPECT_EQ(without.size(), 2u);
  // A "phrase" needs its words next to each other.
  const auto phrase = Hits("\"kerberos tickets\"");
  ASSERT_EQ(phrase.size(), 1u);
  EXPECT_EQ(phrase[0].thread.id, in_subject.thread_id);
  EXPECT_TRUE(Hits("\"tickets kerberos\"").empty());
  // Text with no search terms finds nothing and is no error.
  EXPECT_TRUE(Hits("   ").empty());
  EXPECT_TRUE(Hits("\"\" - ! ,").empty());
}

TEST_F(ReaderTest, SnippetMarksMatchesAndNothingElse) {
  Post(0, "general", "Strange output",
       "Before. The <b>spooler</b> printed \x02 fake \x03 markers and <script>alert(1)</script>, "
       "then the spooler stopped. After.");
  const auto hits = Hits("spooler");
  ASSERT_EQ(hits.size(), 1u);
  const std::string& s = hits[0].snippet;
  const std::string marked = std::string(1, kMatchBegin) + "spooler" + std::string(1, kMatchEnd);
  EXPECT_NE(s.find(marked), std::string::npos) << s;
  // Every marker pair encloses the word: the body's own \x02/\x03 are gone.
  size_t begins = 0;
  for (size_t at = s.find(kMatchBegin); at != std::string::npos; at = s.find(kMatchBegin, at + 1)) {
    ++begins;
    EXPECT_EQ(s.compare(at, marked.size(), marked), 0) << s;
  }
  EXPECT_EQ(begins, static_cast<size_t>(std::count(s.begin(), s.end(), kMatchEnd)));
  EXPECT_EQ(s.find("<b>spooler"), std::string::npos) << s;
  EXPECT_EQ(s.find("fake \x03"), std::string::npos) << s;
}

TEST_F(ReaderTest, KeysetPagingReturnsEveryThreadOnce) {
  // Threads recorded in one transaction share last_post_at: the id breaks ties.
  std::vector<InboundItem> items;
  for (int i = 0; i < 23; ++i) {
    InboundItem item;
    item.mailbox = "help";
    item.uidvalidity = 1;
    item.uid = ++uid_;
    item.message_id = "batch" + std::to_string(i) + "@client";
    item.from_address = "dave@example.com";
    item.message_key = item.message_id + " dave";
    item.classification = Classification::kNormal;
    item.outcome = Outcome::kPosted;
    PostDraft post;
    post.category = i % 3 == 0 ? "it" : "general";
    post.subject = "Question " + std::to_string(i);
    post.author_address = "dave@example.com";
    post.body = "Body " + std::to_string(i);
    item.post = post;
    items.push_back(item);
  }
  auto batch = store_->RecordBatch(items, kDomain);
  ASSERT_TRUE(batch) << batch.error().message;
  for (int i = 0; i < 4; ++i) Post(0, i % 2 == 0 ? "it" : "general", "Later " + std::to_string(i), "text");
  Post(0, "staff", "Hidden", "text");

  auto collect = [&](ThreadQuery query) {
    std::vector<ThreadListItem> all;
    for (int pages = 0; pages < 50; ++pages) {
      auto page = reader_->ListThreads(query);
      EXPECT_TRUE(page) << page.error().message;
      if (!page) break;
      EXPECT_LE(static_cast<int>(page->threads.size()), query.limit);
      all.insert(all.end(), page->threads.begin(), page->threads.end());
      if (!page->next) break;
      query.after = page->next;
    }
    return all;
  };
  ThreadQuery query;
  query.limit = 4;
  const auto all = collect(query);
  ASSERT_EQ(all.size(), 27u);
  std::set<int64_t> ids;
  for (size_t i = 0; i < all.size(); ++i) {
    ids.insert(all[i].id);
    if (i > 0) {
      EXPECT_TRUE(all[i - 1].last_post_at > all[i].last_post_at ||
                  (all[i - 1].last_post_at == all[i].last_post_at && all[i - 1].id > all[i].id))
          << i;
    }
  }
  EXPECT_EQ(ids.size(), 27u);

  query.category_slug = "it";
  const auto it = collect(query);
  EXPECT_EQ(it.size(), 8u + 2u);
  for (const auto& t : it) EXPECT_EQ(t.category_slug, "it");

  ThreadQuery answered;
  answered.status = "answered";
  EXPECT_TRUE(collect(answered).empty());
  ThreadQuery open_in_general;
  open_in_general.status = "open";
  open_in_general.category_slug = "general";
  open_in_general.limit = 5;
  EXPECT_EQ(collect(open_in_general).size(), 15u + 2u);
}

TEST_F(ReaderTest, ListenSeesChangedThreadsAndCategories) {
  const Made t = Post(0, "general", "Noisy fan", "The fan is loud.");
  ASSERT_TRUE(reader_->Listen().ok());
  Post(t.thread_id, "", "", "Oil it.", "", "bob@example.com");

  auto wait_for = [&](int64_t wanted) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto changes = reader_->WaitForChanges(std::chrono::milliseconds(1000));
      EXPECT_TRUE(changes) << changes.error().message;
      if (!changes) return false;
      if (std::find(changes->begin(), changes->end(), wanted) != changes->end()) return true;
    }
    return false;
  };
  EXPECT_TRUE(wait_for(t.thread_id));
  ASSERT_TRUE(store_->SyncCategories({{"general", "General talk", "Anything at all"}}).ok());
  EXPECT_TRUE(wait_for(0));
}

TEST_F(ReaderTest, ConnectionClosedByTheServerIsSeenWithoutAQuery) {
  EXPECT_TRUE(reader_->CheckConnection().ok());
  // The server ends every other session on this scratch database (a restart would do the same).
  auto terminated = QueryScalar(dsn_,
                                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_TRUE(terminated) << terminated.error().message;
  ASSERT_NE(*terminated, "0");
  const base::Status check = WaitUntilClosed([&] { return reader_->CheckConnection(); });
  ASSERT_FALSE(check.ok()) << "a terminated session still looks open";
  EXPECT_EQ(check.error().kind, base::ErrorKind::kTransient) << check.error().message;
  // A new reader works (the web replaces a closed one from its pool).
  auto fresh = Reader::Connect(dsn_);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE((*fresh)->CheckConnection().ok());
  EXPECT_TRUE((*fresh)->Ping().ok());
}

TEST_F(ReaderTest, SearchLanguageReindexes) {
  const Made t = Post(0, "general", "Jumping printers", "The printer jumps off the desk.");
  EXPECT_TRUE(Hits("jump").empty());  // 'simple' does not stem

  ASSERT_TRUE(store_->SetSearchLanguage("english").ok());
  auto hits = Hits("jump");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].thread.id, t.thread_id);
  EXPECT_NE(hits[0].snippet.find(kMatchBegin), std::string::npos);
  // New posts are indexed with the new configuration too.
  Post(t.thread_id, "", "", "Mine was flying.", "", "bob@example.com");
  EXPECT_EQ(Hits("fly").size(), 1u);
  EXPECT_TRUE(store_->SetSearchLanguage("english").ok());  // unchanged: nothing to do

  auto unknown = store_->SetSearchLanguage("klingon");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, base::ErrorKind::kConfig);
  EXPECT_NE(unknown.error().message.find("klingon"), std::string::npos) << unknown.error().message;
  EXPECT_EQ(Hits("jump").size(), 1u);  // still english

  ASSERT_TRUE(store_->SetSearchLanguage("simple").ok());
  EXPECT_TRUE(Hits("jump").empty());
  EXPECT_EQ(Hits("jumps").size(), 1u);
}

TEST_F(ReaderTest, FillReplyAddressesFillsOnce) {
  const Made a = Post(0, "general", "One", "1");
  const Made b = Post(0, "it", "Two", "2");
  const auto before = reader_->ThreadChangedAt(a.thread_id);
  ASSERT_TRUE(before && before->has_value());
  std::vector<int64_t> asked;
  auto address_for = [&](int64_t id) {
    asked.push_back(id);
    return "help+t" + std::to_string(id) + "@help.example";
  };
  auto filled = store_->FillReplyAddresses(address_for, 10);
  ASSERT_TRUE(filled) << filled.error().message;
  EXPECT_EQ(*filled, 2);
  EXPECT_EQ(asked, (std::vector<int64_t>{a.thread_id, b.thread_id}));
  auto again = store_->FillReplyAddresses(address_for, 10);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(asked.size(), 2u);

  auto view = reader_->GetThread(a.thread_id);
  ASSERT_TRUE(view && view->has_value());
  EXPECT_EQ((*view)->reply_address, "help+t" + std::to_string(a.thread_id) + "@help.example");
  EXPECT_GT((*view)->thread.changed_at, **before);  // the page shows it: caches must drop theirs
}

TEST_F(ReaderTest, TriggersKeepCountsWhenThreadsAndPostsGo) {
  const Made t = Post(0, "it", "Gone soon", "first");
  const Made r = Post(t.thread_id, "", "", "second", "", "bob@example.com");
  Post(0, "it", "Stays", "other");
  EXPECT_EQ(Scalar("SELECT post_count FROM threads WHERE id = " + std::to_string(t.thread_id)), "2");
  Scalar("DELETE FROM posts WHERE id = " + std::to_string(r.post_id) + " RETURNING id");
  EXPECT_EQ(Scalar("SELECT post_count FROM threads WHERE id = " + std::to_string(t.thread_id)), "1");
  EXPECT_TRUE(Hits("second").empty());
  Scalar("DELETE FROM threads WHERE id = " + std::to_string(t.thread_id) + " RETURNING id");
  EXPECT_EQ(Scalar("SELECT thread_count FROM categories WHERE slug = 'it'"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
}

TEST_F(ReaderTest, HugeThreadStillTakesPosts) {
  // Distinct words well past a tsvector's 1 MiB: the indexed prefix is capped.
  std::string body;
  for (int i = 0; body.size() < 300000; ++i) body += "w" + std::to_string(i * 7919) + " ";
  const Made t = Post(0, "general", std::string(50000, 'x') + " subject", body);
  for (int i = 0; i < 5; ++i) Post(t.thread_id, "", "", body, "", "bob@example.com");
  auto view = reader_->GetThread(t.thread_id);
  ASSERT_TRUE(view && view->has_value());
  EXPECT_EQ((*view)->posts.size(), 6u);
  EXPECT_EQ(Hits("w0").size(), 1u);
}

TEST_F(ReaderTest, RefusesAnOlderSchema) {
  Scalar(
      "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations) RETURNING "
      "1");
  auto reader = Reader::Connect(dsn_);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().kind, base::ErrorKind::kConfig);
  EXPECT_NE(reader.error().message.find("mailforumctl migrate"), std::string::npos) << reader.error().message;
}

}  // namespace
}  // namespace forum
