#include "forum/reader.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "forum/connection.h"
#include "forum/migrations.h"
#include "forum/store_internal.h"

namespace forum {
namespace {

constexpr char kChannel[] = "mailforum_changes";

// How many candidates a search ranks (see Reader::Search).
constexpr int kRankedBySubject = 100;
constexpr int kRankedByAny = 200;
// How much of the best-matching post a snippet is made from (see Reader::Search).
constexpr int kSnippetSource = 3000;

// Timestamps cross the wire as integer microseconds since the epoch: exact,
// and cheaper to read than timestamptz text.
#define MF_US(column) "(extract(epoch FROM " column ") * 1000000)::int8"

// The columns of a ThreadListItem (ReadItem), from threads t and categories c.
constexpr char kItemColumns[] =
    "t.id, t.subject, t.status, c.slug, c.name, t.tags, greatest(t.post_count - 1, 0), t.author_name, "
    "t.author_address, " MF_US("t.created_at") ", " MF_US("t.last_post_at") ", " MF_US("t.changed_at");
constexpr int kItemColumnCount = 12;

// A timestamp from the microseconds of MF_US, and back (cursors).
Timestamp FromMicros(int64_t us) {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(std::chrono::microseconds(us)));
}
int64_t ToMicros(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::vector<std::string> ParseTextArray(const pqxx::field& field) {
  std::vector<std::string> out;
  if (field.is_null()) return out;
  pqxx::array_parser parser = field.as_array();
  for (;;) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) break;
    if (juncture == pqxx::array_parser::string_value) out.push_back(std::move(value));
  }
  return out;
}

ThreadListItem ReadItem(const pqxx::row& row) {
  ThreadListItem item;
  item.id = row[0].as<int64_t>();
  item.subject = row[1].as<std::string>();
  item.status = row[2].as<std::string>();
  item.category_slug = row[3].as<std::string>();
  item.category_name = row[4].as<std::string>();
  item.tags = ParseTextArray(row[5]);
  item.reply_count = row[6].as<int64_t>();
  item.author.name = row[7].as<std::string>();
  item.author.address = row[8].as<std::string>();
  item.created_at = FromMicros(row[9].as<int64_t>());
  item.last_post_at = FromMicros(row[10].as<int64_t>());
  item.changed_at = FromMicros(row[11].as<int64_t>());
  return item;
}

CategoryView ReadCategory(const pqxx::row& row) {
  return CategoryView{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                      row[3].as<int64_t>()};
}

// Collects the payloads of change notifications until WaitForChanges takes them.
class ChangeReceiver : public pqxx::notification_receiver {
 public:
  ChangeReceiver(pqxx::connection_base& conn, std::vector<int64_t>& out)
      : pqxx::notification_receiver(conn, kChannel), out_(out) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    int64_t id = 0;
    try {
      size_t used = 0;
      id = std::stoll(payload, &used);
      if (used != payload.size() || id < 0) id = 0;
    } catch (const std::exception&) {
      id = 0;  // not a thread id: drop everything
    }
    out_.push_back(id);
  }

 private:
  std::vector<int64_t>& out_;
};

}  // namespace

struct Reader::Impl {
  explicit Impl(const std::string& dsn) : conn(WithNetworkTimeouts(dsn)) {}

  // Makes the session read-only and quiet, and registers the statements.
  // Run again after a lost connection: libpqxx 6 reconnects by itself on the
  // next use, into a session without these settings.
  void Setup() {
    pqxx::nontransaction tx(conn);
    tx.exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
    // Text that parses to no search terms makes PostgreSQL send a NOTICE,
    // which libpqxx would print on stderr.
    tx.exec("SET client_min_messages TO warning");
    // A web page must not wait for ever; a timeout is kTransient.
    tx.exec("SET statement_timeout TO '10s'");
    needs_setup = false;
  }

  // Prepares `sql` under `name` once (libpqxx 6 sends it on first use).
  const std::string& Prepared(const std::string& name, const std::string& sql) {
    if (std::find(prepared.begin(), prepared.end(), name) == prepared.end()) {
      conn.prepare(name, sql);
      prepared.push_back(name);
    }
    return name;
  }

  base::Error Fail(const std::exception& e, const std::string& what) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) needs_setup = true;
    base::Error error = FromException(e, what);
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
        sql != nullptr && sql->sqlstate() == "57014") {
      error.kind = base::ErrorKind::kTransient;  // statement_timeout
    }
    return error;
  }

  // Transact for the methods of Reader: the session is set up first when it
  // needs to be, and an exception becomes Fail(e, what).
  template <typename Transaction, typename Body>
  auto Run(const std::string& what, Body&& body) {
    return Transact<Transaction>(
        conn,
        [this] {
          if (needs_setup) Setup();
        },
        std::forward<Body>(body), [this, &what](const std::exception& e) { return Fail(e, what); });
  }

  Connection conn;
  bool needs_setup = true;
  std::vector<std::string> prepared;
  std::vector<int64_t> changes;  // filled by receiver
  std::unique_ptr<ChangeReceiver> receiver;
};

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

base::Result<std::unique_ptr<Reader>> Reader::Connect(const std::string& dsn) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(dsn);
  } catch (const std::exception& e) {
    // libpq's messages name host and port, never the password.
    return base::Error{base::ErrorKind::kTransient, std::string("cannot connect to PostgreSQL: ") + e.what()};
  }
  try {
    impl->Setup();
    pqxx::nontransaction tx(impl->conn);
    const pqxx::row row = tx.exec1(
        "SELECT CASE WHEN to_regclass('public.schema_migrations') IS NULL THEN 0 "
        "ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END");
    const int version = row[0].as<int>();
    if (version != RequiredSchemaVersion()) {
      return base::Error{
          base::ErrorKind::kConfig,
          "the database schema is at version " + std::to_string(version) +
              " but this mailforum reads version " + std::to_string(RequiredSchemaVersion()) +
              (version < RequiredSchemaVersion() ? ": run `mailforumctl migrate -c CONFIG`"
                                                 : ": install the newer mailforum that migrated it")};
    }
  } catch (const std::exception& e) {
    return impl->Fail(e, "opening the forum for reading");
  }
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

base::Status Reader::CheckConnection() {
  try {
    ThrowIfClosed(impl_->conn);
    return {};
  } catch (const std::exception& e) {
    return impl_->Fail(e, "checking the database connection");
  }
}

bool Reader::KeepsLargeBuffers() const { return impl_->conn.KeepsLargeBuffers(); }

base::Status Reader::Ping() {
  return impl_->Run<pqxx::nontransaction>("pinging the database", [&](Tx& tx) { tx.exec("SELECT 1"); });
}

base::Result<std::optional<UnsubscribeTarget>> Reader::FindUnsubscribeTarget(int64_t outbox_id) {
  return impl_->Run<pqxx::read_transaction>("reading outbox row " + std::to_string(outbox_id),
                                            [&](Tx& tx) { return ReadUnsubscribeTarget(tx, outbox_id); });
}

base::Result<bool> Reader::MayUnsubscribe() {
  return impl_->Run<pqxx::read_transaction>("checking the privilege to unsubscribe", [&](Tx& tx) {
    return tx.exec1("SELECT has_function_privilege('mailforum_unsubscribe(text, text, text)', 'EXECUTE')")[0]
        .as<bool>();
  });
}

base::Status Reader::Unsubscribe(const std::string& address, const std::string& scope) {
  // Not Run: a missing privilege gets its own advice.
  try {
    if (impl_->needs_setup) impl_->Setup();
    // The session is read-only; this one transaction is not (its one write goes through the function).
    pqxx::work tx(impl_->conn);
    tx.exec("SET TRANSACTION READ WRITE");
    tx.exec_params("SELECT mailforum_unsubscribe($1, $2, $3)", address, scope,
                   std::string(UnsubscribeSourceName(UnsubscribeSource::kOneClick)));
    tx.commit();
    return {};
  } catch (const pqxx::insufficient_privilege& e) {
    // Migration 10: only roles granted it may call the function (docs/configuration.md, web.dsn_file).
    base::Error error = impl_->Fail(e, "unsubscribing " + address + " from " + DescribeScope(scope));
    error.message +=
        " (the web's database role needs: GRANT EXECUTE ON FUNCTION "
        "mailforum_unsubscribe(text, text, text) TO that role)";
    return error;
  } catch (const std::exception& e) {
    return impl_->Fail(e, "unsubscribing " + address + " from " + DescribeScope(scope));
  }
}

std::vector<MailboxReport> ReportMailboxes(const ServiceHealth& health, const std::vector<std::string>& configured,
                                           std::chrono::seconds failure_limit) {
  auto report = [&](const std::string& name, const MailboxHealth* m) {
    MailboxReport r{name, MailboxCondition::kUnknown, m};
    if (m != nullptr) {
      r.condition = m->failing_for == 0                     ? MailboxCondition::kOk
                    : m->failing_for > failure_limit.count() ? MailboxCondition::kFailed
                                                             : MailboxCondition::kFailing;
    }
    return r;
  };
  std::vector<MailboxReport> out;
  if (configured.empty()) {
    for (const auto& m : health.mailboxes) out.push_back(report(m.mailbox, &m));
    return out;
  }
  for (const auto& name : configured) {
    const MailboxHealth* known = nullptr;
    for (const auto& m : health.mailboxes) {
      if (m.mailbox == name) known = &m;
    }
    out.push_back(report(name, known));
  }
  return out;
}

base::Result<ServiceHealth> Reader::Health(double suppress_score) {
  return impl_->Run<pqxx::nontransaction>("reading the service's health", [&](Tx& tx) {
    // One statement: the mailboxes as rows, the outbox and suppression figures on every row (and on a
    // row of NULL mailbox when there is no mailbox yet).
    const pqxx::result rows = tx.exec_params(
        "WITH o AS (SELECT count(*) FILTER (WHERE next_attempt_at <= now()) AS due, "
        "                  count(*) AS pending, "
        "                  floor(extract(epoch FROM now() - min(next_attempt_at) "
        "                        FILTER (WHERE next_attempt_at <= now())))::bigint AS oldest "
        "           FROM outbox WHERE status = 'pending'), "  // the partial index outbox_due: no scan of sent mail
        "     s AS (SELECT count(*) AS n FROM suppressions WHERE bounce_score >= $1) "
        "SELECT m.mailbox, "
        "       floor(extract(epoch FROM now() - m.last_success_at))::bigint, "
        "       floor(extract(epoch FROM now() - m.last_error_at))::bigint, "
        "       coalesce(m.last_error, ''), "
        "       CASE WHEN m.last_error_at IS NOT NULL "
        "                 AND (m.last_success_at IS NULL OR m.last_error_at > m.last_success_at) "
        "            THEN floor(extract(epoch FROM now() - coalesce(m.last_success_at, m.first_contact_at)))::bigint "
        "            ELSE 0 END, "
        "       o.due, o.pending, o.oldest, s.n "
        "FROM o CROSS JOIN s LEFT JOIN mailbox_state m ON true ORDER BY m.mailbox",
        suppress_score);
    ServiceHealth health;
    for (const auto& row : rows) {
      health.outbox_due = row[5].as<int64_t>();
      health.outbox_pending = row[6].as<int64_t>();
      if (!row[7].is_null()) health.oldest_due_age = row[7].as<int64_t>();
      health.suppressed_addresses = row[8].as<int64_t>();
      if (row[0].is_null()) continue;
      MailboxHealth m;
      m.mailbox = row[0].as<std::string>();
      if (!row[1].is_null()) m.last_success_age = row[1].as<int64_t>();
      if (!row[2].is_null()) m.last_error_age = row[2].as<int64_t>();
      m.last_error = row[3].as<std::string>();
      m.failing_for = row[4].as<int64_t>();
      health.mailboxes.push_back(std::move(m));
    }
    return health;
  });
}

base::Result<std::vector<CategoryView>> Reader::PublicCategories() {
  return impl_->Run<pqxx::nontransaction>("listing the categories", [&](Tx& tx) {
    const pqxx::result r = tx.exec_prepared(impl_->Prepared(
        "mf_categories",
        "SELECT slug, name, description, thread_count FROM categories WHERE public ORDER BY name, slug"));
    std::vector<CategoryView> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(ReadCategory(row));
    return out;
  });
}

base::Result<std::optional<CategoryView>> Reader::PublicCategory(const std::string& slug) {
  return impl_->Run<pqxx::nontransaction>("reading a category", [&](Tx& tx) {
    const pqxx::result r = tx.exec_prepared(
        impl_->Prepared(
            "mf_category",
            "SELECT slug, name, description, thread_count FROM categories WHERE slug = $1 AND public"),
        slug);
    if (r.empty()) return std::optional<CategoryView>();
    return std::optional<CategoryView>(ReadCategory(r[0]));
  });
}

base::Result<ThreadListPage> Reader::ListThreads(const ThreadQuery& query) {
  const int limit = std::clamp(query.limit, 1, 200);
  // One statement per combination of filters, so that each gets the plan of
  // its index: (last_post_at, id), (category_id, ...) or (status, ...).
  std::string name = "mf_list";
  std::string where = "c.public";
  std::vector<std::string> params{std::to_string(limit + 1)};
  if (query.category_slug) {
    name += "_c";
    params.push_back(*query.category_slug);
    // A scalar subquery, not a join on the slug: the threads then come in
    // order from an index ((category_id, last_post_at, id), or the global
    // one filtered: a generic plan cannot tell how rare the category is),
    // so LIMIT stops early instead of sorting the whole category.
    where += " AND t.category_id = (SELECT id FROM categories WHERE slug = $" +
             std::to_string(params.size()) + " AND public)";
  }
  if (query.status) {
    name += "_s";
    params.push_back(*query.status);
    where += " AND t.status = $" + std::to_string(params.size());
  }
  if (query.after) {
    name += "_a";
    params.push_back(std::to_string(ToMicros(query.after->last_post_at)));
    params.push_back(std::to_string(query.after->id));
    where += " AND (t.last_post_at, t.id) < (timestamptz 'epoch' + $" + std::to_string(params.size() - 1) +
             "::int8 * interval '1 microsecond', $" + std::to_string(params.size()) + "::int8)";
  }
  const std::string sql = std::string("SELECT ") + kItemColumns +
                          " FROM threads t JOIN categories c ON c.id = t.category_id WHERE " + where +
                          " ORDER BY t.last_post_at DESC, t.id DESC LIMIT $1::int4";
  return impl_->Run<pqxx::nontransaction>("listing threads", [&](Tx& tx) {
    const pqxx::result r =
        tx.exec_prepared(impl_->Prepared(name, sql), pqxx::prepare::make_dynamic_params(params));
    ThreadListPage page;
    for (const auto& row : r) {
      if (static_cast<int>(page.threads.size()) == limit) {
        const ThreadListItem& last = page.threads.back();
        page.next = ThreadCursor{last.last_post_at, last.id};
        break;
      }
      page.threads.push_back(ReadItem(row));
    }
    return page;
  });
}

base::Result<std::optional<ThreadView>> Reader::GetThread(int64_t id) {
  return impl_->Run<pqxx::nontransaction>("reading thread " + std::to_string(id), [&](Tx& tx) {
    // Three statements, each its own snapshot: the posts are read after the
    // thread, so they are never older than its changed_at says.
    const pqxx::result t = tx.exec_prepared(
        impl_->Prepared("mf_thread", std::string("SELECT ") + kItemColumns +
                                         ", c.description, t.accepted_post_id, coalesce(t.reply_address, '') "
                                         "FROM threads t JOIN categories c ON c.id = t.category_id "
                                         "WHERE t.id = $1 AND c.public"),
        id);
    if (t.empty()) return std::optional<ThreadView>();
    ThreadView view;
    view.thread = ReadItem(t[0]);
    view.category_description = t[0][kItemColumnCount].as<std::string>();
    if (!t[0][kItemColumnCount + 1].is_null())
      view.accepted_post_id = t[0][kItemColumnCount + 1].as<int64_t>();
    view.reply_address = t[0][kItemColumnCount + 2].as<std::string>();

    const pqxx::result posts = tx.exec_prepared(
        impl_->Prepared(
            "mf_posts",
            "SELECT p.id, p.parent_post_id, p.author_name, p.author_address, p.body, p.elided, " MF_US(
                "p.created_at") ", EXISTS (SELECT 1 FROM post_attachments pa WHERE pa.post_id = p.id) "
                                "FROM posts p WHERE p.thread_id = $1 ORDER BY p.id"),
        id);
    bool any_attachment = false;
    view.posts.reserve(posts.size());
    for (const auto& row : posts) {
      PostView post;
      post.id = row[0].as<int64_t>();
      if (!row[1].is_null()) post.parent_post_id = row[1].as<int64_t>();
      post.author.name = row[2].as<std::string>();
      post.author.address = row[3].as<std::string>();
      post.body = row[4].as<std::string>();
      post.elided = row[5].as<std::string>();
      post.created_at = FromMicros(row[6].as<int64_t>());
      any_attachment = any_attachment || row[7].as<bool>();
      view.posts.push_back(std::move(post));
    }
    if (any_attachment) {
      const pqxx::result attachments = tx.exec_prepared(
          impl_->Prepared("mf_thread_attachments",
                          "SELECT pa.post_id, pa.position, pa.filename, pa.content_type, a.size "
                          "FROM posts p JOIN post_attachments pa ON pa.post_id = p.id "
                          "JOIN attachments a ON a.id = pa.attachment_id "
                          "WHERE p.thread_id = $1 ORDER BY pa.post_id, pa.position"),
          id);
      // Both are in post id order: merge. A post that landed after the
      // posts were read is not shown, nor are its attachments.
      size_t p = 0;
      for (const auto& row : attachments) {
        const int64_t post_id = row[0].as<int64_t>();
        while (p < view.posts.size() && view.posts[p].id < post_id) ++p;
        if (p == view.posts.size()) break;
        if (view.posts[p].id != post_id) continue;
        view.posts[p].attachments.push_back(AttachmentInfo{row[1].as<int>(), row[2].as<std::string>(),
                                                           row[3].as<std::string>(), row[4].as<int64_t>()});
      }
    }
    return std::optional<ThreadView>(std::move(view));
  });
}

base::Result<std::optional<Timestamp>> Reader::ThreadChangedAt(int64_t id) {
  const std::string what = "reading when thread " + std::to_string(id) + " changed";
  return impl_->Run<pqxx::nontransaction>(what, [&](Tx& tx) {
    const pqxx::result r = tx.exec_prepared(
        impl_->Prepared(
            "mf_changed_at",
            "SELECT " MF_US(
                "t.changed_at") " FROM threads t "
                                "JOIN categories c ON c.id = t.category_id WHERE t.id = $1 AND c.public"),
        id);
    if (r.empty()) return std::optional<Timestamp>();
    return std::optional<Timestamp>(FromMicros(r[0][0].as<int64_t>()));
  });
}

base::Result<std::optional<AttachmentContent>> Reader::GetAttachment(int64_t post_id, int position) {
  const std::string what =
      "reading attachment " + std::to_string(position) + " of post " + std::to_string(post_id);
  return impl_->Run<pqxx::nontransaction>(what, [&](Tx& tx) {
    const pqxx::result r = tx.exec_prepared(
        impl_->Prepared("mf_attachment",
                        "SELECT pa.filename, pa.content_type, a.content FROM post_attachments pa "
                        "JOIN attachments a ON a.id = pa.attachment_id JOIN posts p ON p.id = pa.post_id "
                        "JOIN threads t ON t.id = p.thread_id JOIN categories c ON c.id = t.category_id "
                        "WHERE pa.post_id = $1 AND pa.position = $2 AND c.public"),
        post_id, position);
    if (r.empty()) return std::optional<AttachmentContent>();
    const pqxx::binarystring bytes(r[0][2]);
    return std::optional<AttachmentContent>(
        AttachmentContent{r[0][0].as<std::string>(), r[0][1].as<std::string>(), bytes.str()});
  });
}

base::Result<SearchResults> Reader::Search(const SearchQuery& query) {
  SearchResults results;
  const int limit = std::clamp(query.limit, 1, 100);
  const int offset = std::max(query.offset, 0);
  if (offset > kMaxSearchOffset) return results;
  if (std::all_of(query.text.begin(), query.text.end(), [](char c) { return c == ' ' || c == '\t'; })) {
    return results;
  }
  std::string name = "mf_search";
  // The queries and the configuration ($1..$3) are filled in below.
  std::vector<std::string> params{"", "", "", std::to_string(limit + 1), std::to_string(offset)};
  std::string where = "c.public";
  if (query.category_slug) {
    name += "_c";
    params.push_back(*query.category_slug);
    where += " AND c.slug = $" + std::to_string(params.size());
  }
  if (query.status) {
    name += "_s";
    params.push_back(*query.status);
    where += " AND t.status = $" + std::to_string(params.size());
  }
  // Ranking reads each candidate's whole search vector, so only a bounded
  // set is ranked: the kRankedBySubject most recently active threads whose
  // subject matches (subject_search: small, inline, its own GIN index) and
  // the kRankedByAny most recent that match at all. A rare word is ranked
  // over all its threads; a word in most threads is ranked over the recent
  // ones, where the answer to a live question is. Candidates are found
  // without the quotes of phrases: the index cannot check word positions,
  // so a phrase would make PostgreSQL read the vector of every thread
  // holding its words (seconds for common words); the phrase itself is
  // checked on the candidates.
  //
  // Rank: a subject match comes first (+1), then cover density over subject
  // (weight A) and bodies (B), normalised into [0, 1). The snippet comes
  // from the best-matching post (or the subject when only it matches), from
  // the first kSnippetSource characters of its body (ts_headline parses all
  // it is given: a whole body cost more than the rest of the search), without
  // the marker bytes.
  //
  // The queries and the configuration are made once, by a statement of
  // their own, and passed to the search as values: called in the search,
  // the non-inlined mailforum_search_config() ran once per row filtered,
  // and the planner could not see the words (a plan for a guessed rarity).
  const std::string from = "FROM threads t JOIN categories c ON c.id = t.category_id WHERE " + where;
  // An array of ids makes one index lookup each (a join would be planned
  // for a guessed number of candidates). "-word" may be in the body of a
  // thread whose subject matches: hence the full @@ on every candidate.
  // $1: the query, $2: the query without phrases, $3: the configuration.
  const std::string sql =
      "WITH candidates AS ((SELECT t.id " + from +
      " AND t.subject_search @@ $2::tsquery"
      " ORDER BY t.last_post_at DESC LIMIT " +
      std::to_string(kRankedBySubject) +
      ") UNION ALL "
      "(SELECT t.id " +
      from +
      " AND t.search @@ $2::tsquery"
      " ORDER BY t.last_post_at DESC LIMIT " +
      std::to_string(kRankedByAny) +
      ")), "
      "hits AS (SELECT t.id, ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', t.search, $1::tsquery, 32) + "
      "CASE WHEN t.subject_search @@ $1::tsquery THEN 1 ELSE 0 END AS rank, t.last_post_at "
      "FROM threads t WHERE t.id = ANY (ARRAY(SELECT DISTINCT id FROM candidates)) "
      "AND t.search @@ $1::tsquery "
      "ORDER BY rank DESC, t.last_post_at DESC, t.id DESC LIMIT $4::int4 OFFSET $5::int4) "
      "SELECT " +
      std::string(kItemColumns) +
      ", h.rank, "
      "ts_headline($3::regconfig, translate(coalesce(best.body, t.subject), E'\\x02\\x03', ''), $1::tsquery, "
      "'StartSel=\"\x02\", StopSel=\"\x03\", MaxWords=35, MinWords=15, ShortWord=3, MaxFragments=2, "
      "FragmentDelimiter=\" … \"') "
      "FROM hits h JOIN threads t ON t.id = h.id JOIN categories c ON c.id = t.category_id "
      "LEFT JOIN LATERAL (SELECT substr(p.body, 1, " +
      std::to_string(kSnippetSource) +
      ") AS body FROM posts p "
      "WHERE p.thread_id = t.id AND p.search @@ $1::tsquery ORDER BY ts_rank_cd(p.search, $1::tsquery) DESC, "
      "p.id "
      "LIMIT 1) best "
      "ON true ORDER BY h.rank DESC, h.last_post_at DESC, h.id DESC";
  return impl_->Run<pqxx::nontransaction>("searching", [&](Tx& tx) {
    const pqxx::row queries = tx.exec_prepared1(
        impl_->Prepared("mf_search_query",
                        "SELECT websearch_to_tsquery(s.cfg, $1)::text, "
                        "websearch_to_tsquery(s.cfg, translate($1, '\"', ' '))::text, s.cfg::text "
                        "FROM (SELECT mailforum_search_config() AS cfg) s"),
        query.text);
    params[0] = queries[0].as<std::string>();
    params[1] = queries[1].as<std::string>();
    params[2] = queries[2].as<std::string>();
    const pqxx::result r =
        tx.exec_prepared(impl_->Prepared(name, sql), pqxx::prepare::make_dynamic_params(params));
    for (const auto& row : r) {
      if (static_cast<int>(results.hits.size()) == limit) {
        results.more = true;
        break;
      }
      SearchHit hit;
      hit.thread = ReadItem(row);
      hit.rank = row[kItemColumnCount].as<double>();
      hit.snippet = row[kItemColumnCount + 1].as<std::string>();
      results.hits.push_back(std::move(hit));
    }
    return results;
  });
}

base::Status Reader::Listen() {
  try {
    if (impl_->needs_setup) impl_->Setup();
    if (!impl_->receiver) impl_->receiver = std::make_unique<ChangeReceiver>(impl_->conn, impl_->changes);
    return {};
  } catch (const std::exception& e) {
    return impl_->Fail(e, "listening for changes");
  }
}

base::Result<std::vector<int64_t>> Reader::WaitForChanges(std::chrono::milliseconds timeout) {
  if (!impl_->receiver) return base::Error{base::ErrorKind::kInternal, "WaitForChanges before Listen"};
  try {
    impl_->conn.get_notifs();
    if (impl_->changes.empty() && timeout.count() > 0) {
      impl_->conn.await_notification(static_cast<long>(timeout.count() / 1000),
                                     static_cast<long>(timeout.count() % 1000) * 1000);
    }
    std::vector<int64_t> out;
    out.reserve(impl_->changes.size());
    for (int64_t id : impl_->changes) {
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
    impl_->changes.clear();
    return out;
  } catch (const std::exception& e) {
    return impl_->Fail(e, "waiting for changes");
  }
}

}  // namespace forum
