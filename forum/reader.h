// Reader: the forum's read side, for the web view (web/) and its JSON API.
//
// A Reader holds one database connection and only ever reads (it works with a
// PostgreSQL role that may only SELECT, and it runs every transaction READ
// ONLY), so `mailforum-web` can run beside the daemon without any of the mail
// secrets. Everything it returns belongs to PUBLIC categories only: a thread,
// post, attachment or search hit of a private category (categories[].public:
// false) is reported exactly like one that does not exist.
//
// What a Reader returns carries authors' addresses (the web masks them; they
// never reach a page, feed or JSON document as they are) but never an inbound
// Message-ID or a reply token other than the thread's public reply address.
//
// Thread-safety: one Reader per thread (it is not thread-safe). Errors are
// base::Error: kTransient for a lost connection or a timeout, kConfig for a
// schema that does not match this build, kInternal otherwise. No libpqxx
// exception crosses this header; the DSN never appears in an error.
#ifndef MAILFORUM_FORUM_READER_H_
#define MAILFORUM_FORUM_READER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/subscriptions.h"

namespace forum {

using Timestamp = std::chrono::system_clock::time_point;

// Who wrote something. `address` is for masking (jo…@example.com) only.
struct Author {
  std::string name;     // display name from the From: header; may be empty
  std::string address;  // lower-case mail address; never shown as it is
};

// A thread as lists, feeds and search results show it.
struct ThreadListItem {
  int64_t id = 0;
  std::string subject;
  std::string status;  // "open", "answered" or "resolved"
  std::string category_slug;
  std::string category_name;
  std::vector<std::string> tags;
  int64_t reply_count = 0;  // posts after the question
  Author author;            // who asked
  Timestamp created_at;
  Timestamp last_post_at;
  Timestamp changed_at;  // last change of anything shown about the thread (a post, its status, tags, accepted answer)
};

// Keyset paging of thread lists: the threads after this one, in the order
// (last_post_at DESC, id DESC).
struct ThreadCursor {
  Timestamp last_post_at;
  int64_t id = 0;
};

struct ThreadQuery {
  std::optional<std::string> category_slug;  // only this (public) category
  std::optional<std::string> status;         // only "open", "answered" or "resolved"
  std::optional<ThreadCursor> after;         // the page after this thread
  int limit = 30;                            // 1..200
};

struct ThreadListPage {
  std::vector<ThreadListItem> threads;
  std::optional<ThreadCursor> next;  // set when more threads follow
};

// An attachment's description (its bytes: Reader::GetAttachment).
struct AttachmentInfo {
  int position = 0;  // its number within the post, from 0
  std::string filename;
  std::string content_type;  // as the mail declared it: never trusted for serving
  int64_t size = 0;
};

struct PostView {
  int64_t id = 0;
  std::optional<int64_t> parent_post_id;
  Author author;
  std::string body;    // what the author wrote (trimmed), plain text
  std::string elided;  // quoted history and signature cut from the body, plain text; "" when none
  Timestamp created_at;
  std::vector<AttachmentInfo> attachments;  // in position order
};

// A whole thread: posts in the order they were made; the question is posts[0].
struct ThreadView {
  ThreadListItem thread;
  std::string category_description;
  std::optional<int64_t> accepted_post_id;
  // The thread's public reply address (help+TOKEN@example.com): it routes a
  // reply into this thread and grants nothing else. "" until the daemon has
  // filled it in for a new thread.
  std::string reply_address;
  std::vector<PostView> posts;
};

struct CategoryView {
  std::string slug;
  std::string name;
  std::string description;
  int64_t thread_count = 0;
};

struct AttachmentContent {
  std::string filename;
  std::string content_type;  // as declared
  std::string bytes;
};

// How deep ranked search results can be paged (SearchQuery::offset): past
// it, Search returns no hits. Ranking is the costly part of a search, so it
// ranks a bounded set of the most recently active matching threads (a few
// hundred; those whose subject matches first): a word found in thousands of
// threads finds the recent ones.
inline constexpr int kMaxSearchOffset = 200;

struct SearchQuery {
  std::string text;                          // websearch_to_tsquery syntax: words, "phrases", -not, or
  std::optional<std::string> category_slug;  // only this public category
  std::optional<std::string> status;         // only this status
  int limit = 20;                            // 1..100
  int offset = 0;                            // ranked results page by offset (bounded by kMaxSearchOffset)
};

// Markers ts_headline puts around each match in a snippet: control
// characters, so the web escapes the snippet as plain text and then turns
// them into <mark> and </mark>. Nothing else in a snippet is markup.
inline constexpr char kMatchBegin = '\x02';
inline constexpr char kMatchEnd = '\x03';

struct SearchHit {
  ThreadListItem thread;
  double rank = 0;
  std::string snippet;  // plain text with kMatchBegin/kMatchEnd around matches
};

struct SearchResults {
  std::vector<SearchHit> hits;  // best first
  bool more = false;            // more hits follow this page
};

// What /healthz, /metrics and `mailforumctl status` report, read in one round
// trip. Ages are in seconds, measured by the database's clock.
struct MailboxHealth {
  std::string mailbox;
  std::optional<int64_t> last_success_age;  // none: no pass has succeeded yet
  std::optional<int64_t> last_error_age;    // none: no error was ever noted
  std::string last_error;
  // A mailbox is failing when its last error is newer than its last success;
  // then: seconds since its last success (or since first contact). Else 0.
  int64_t failing_for = 0;
};

struct ServiceHealth {
  std::vector<MailboxHealth> mailboxes;  // every mailbox the database knows, by name
  int64_t outbox_due = 0;                // pending rows due now
  int64_t outbox_pending = 0;            // pending rows, due or waiting to retry
  std::optional<int64_t> oldest_due_age;  // seconds the oldest due row has been due
  int64_t suppressed_addresses = 0;      // addresses whose bounce score stops mail
};

// What the health check makes of each mailbox: ok; failing (for up to the
// limit); failed (failing for longer: the check fails); unknown (configured,
// never contacted: no verdict).
enum class MailboxCondition { kOk, kFailing, kFailed, kUnknown };
// "ok", "failing", "failed", "unknown".
inline std::string_view MailboxConditionName(MailboxCondition condition) {
  switch (condition) {
    case MailboxCondition::kOk:
      return "ok";
    case MailboxCondition::kFailing:
      return "failing";
    case MailboxCondition::kFailed:
      return "failed";
    case MailboxCondition::kUnknown:
      break;
  }
  return "unknown";
}

struct MailboxReport {
  std::string name;
  MailboxCondition condition = MailboxCondition::kUnknown;
  const MailboxHealth* health = nullptr;  // into the ServiceHealth; null when unknown
};

// The `configured` mailboxes (or, when empty, every mailbox `health` knows),
// each with its condition under `failure_limit`. Pure.
std::vector<MailboxReport> ReportMailboxes(const ServiceHealth& health, const std::vector<std::string>& configured,
                                           std::chrono::seconds failure_limit);

class Reader {
 public:
  // Connects to `dsn` (a libpq connection string). The connection is set
  // read-only at once. kConfig for a schema that does not match this build.
  static base::Result<std::unique_ptr<Reader>> Connect(const std::string& dsn);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Without a round trip: kTransient when the server has already closed this
  // connection (a restart); such a Reader is replaced, not reused (see
  // Store::CheckConnection).
  base::Status CheckConnection();

  // As Store::KeepsLargeBuffers: a reader that carried a large attachment
  // or page is closed, not pooled. No round trip.
  bool KeepsLargeBuffers() const;

  // One round trip: is the database there and answering? (/healthz)
  base::Status Ping();

  // The mailboxes' state and the outbox backlog, in one round trip.
  // `suppress_score`: the bounce score at which an address gets no more mail.
  base::Result<ServiceHealth> Health(double suppress_score);

  // Public categories, by name, with their thread counts.
  base::Result<std::vector<CategoryView>> PublicCategories();

  // The public category `slug`, or nullopt (none, or private).
  base::Result<std::optional<CategoryView>> PublicCategory(const std::string& slug);

  // Threads of public categories, newest activity first; keyset paged.
  base::Result<ThreadListPage> ListThreads(const ThreadQuery& query);

  // The thread `id` with its posts and attachment descriptions, or nullopt
  // (none, or in a private category).
  base::Result<std::optional<ThreadView>> GetThread(int64_t id);

  // When thread `id` last changed (ThreadListItem::changed_at), or nullopt:
  // one cheap round trip, for conditional GETs and cache checks.
  base::Result<std::optional<Timestamp>> ThreadChangedAt(int64_t id);

  // Attachment `position` of post `post_id`, or nullopt (none, or private).
  base::Result<std::optional<AttachmentContent>> GetAttachment(int64_t post_id, int position);

  // Full-text search over thread subjects (weighted highest) and what people
  // wrote (post bodies; never the quoted history), with the instance's
  // text-search configuration; ranked, with a highlighted snippet per hit.
  // Text that parses to no search terms gives no hits (not an error).
  base::Result<SearchResults> Search(const SearchQuery& query);

  // --- unsubscribing (issue 12): the web's one write ---

  // The outbox row an unsubscribe token names, or nullopt.
  base::Result<std::optional<UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id);

  // Records that `address` unsubscribed from `scope` by one click (an
  // existing unsubscription stays as it was). Through the function
  // mailforum_unsubscribe (migration 7), which may insert into
  // unsubscriptions and nothing else, so a role that may only SELECT can call
  // it once granted EXECUTE on it (migration 10); in a transaction of its own
  // that is not read-only. Without the grant the error names it.
  base::Status Unsubscribe(const std::string& address, const std::string& scope);

  // Whether this connection's role may call mailforum_unsubscribe (so that
  // the web can say at start, rather than at the first click, that it may not).
  base::Result<bool> MayUnsubscribe();

  // --- change notifications (cache invalidation) ---

  // Starts listening for changes (PostgreSQL LISTEN): after this, use this
  // Reader only for WaitForChanges.
  base::Status Listen();

  // Waits up to `timeout` for change notifications and returns the ids of
  // the threads that changed (0 stands for "categories or anything else":
  // drop every cached list), each once. Empty after a timeout (or a wake-up
  // without notifications: callers loop). After an error (kTransient: the
  // connection was lost) notifications may have been missed: drop every
  // cache, and make a new Reader and Listen again.
  base::Result<std::vector<int64_t>> WaitForChanges(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_READER_H_
