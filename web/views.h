// The web view's pages, feeds and JSON documents: compiled view functions
// from forum::Reader's plain values to bytes. Pure: no I/O, no clock (times
// come from the values), no global state.
//
// Every string from the database — which means from an email, hostile until
// proven otherwise — is written through web/html.h's escaping writer (HTML
// text, attributes and URLs each have their own escaper), the Atom escaper
// or nlohmann-json. Nothing from an email is ever emitted as markup: bare
// http/https URLs in text become links with rel="nofollow ugc noopener";
// every other scheme stays text. Authors are shown by display name or a
// masked address (jo…@example.com), never by their address; no inbound
// Message-ID appears anywhere. Pages use no JavaScript and no resource from
// another origin: one stylesheet from /static/style.css.
//
// URLs (relative to the site root; SiteInfo::base_url makes them absolute in
// feeds and JSON):
//   /                               thread list (?status=, ?after=CURSOR)
//   /c/{slug}                       category page (same parameters)
//   /t/{id}                         thread page
//   /t/{id}/attachments/{post}/{n}  attachment download
//   /search?q=&category=&status=&page=
//   /feed.atom  /c/{slug}/feed.atom  /t/{id}/feed.atom
//   /api/threads  /api/threads/{id}  /api/search?q=
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_WEB_VIEWS_H_
#define MAILFORUM_WEB_VIEWS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forum/reader.h"

namespace web {

// How authors are named on every surface.
enum class AuthorDisplay {
  kName,    // the display name; a masked address when there is none
  kMasked,  // always the masked address
};

struct SiteInfo {
  std::string name;      // the instance's display name (page titles, feed titles)
  std::string base_url;  // https://help.example.com, without a trailing slash
  AuthorDisplay author_display = AuthorDisplay::kName;
};

// What a list page shows beside its threads.
struct ListContext {
  std::optional<forum::CategoryView> category;  // set on a category page
  std::optional<std::string> status;            // the status filter in force
  std::vector<forum::CategoryView> categories;  // the public categories, for navigation
};

struct SearchForm {
  std::string text;
  std::optional<std::string> category_slug;
  std::optional<std::string> status;
  int page = 1;  // from 1
};

// The name an author is shown by, as plain text (to be escaped for its
// surface). kName: the display name, cleaned (web/html.h CleanLine), unless it
// is blank or holds an "@" (such a name is often the address itself). Else
// the masked address: the first two characters of the local part (one when
// it has one or two), "…@" and the domain; "Anonymous" without an address.
std::string AuthorLabel(const forum::Author& author, AuthorDisplay display);

// A keyset cursor as it travels in ?after= ("<microseconds>.<id>"), and back;
// nullopt for anything malformed.
std::string EncodeCursor(const forum::ThreadCursor& cursor);
std::optional<forum::ThreadCursor> DecodeCursor(std::string_view text);

// --- HTML pages (text/html; charset=utf-8) ---
std::string RenderThreadList(const SiteInfo& site, const ListContext& context, const forum::ThreadListPage& page);
std::string RenderThread(const SiteInfo& site, const forum::ThreadView& thread);
// `results` is null when the form was not submitted (or had no words).
std::string RenderSearch(const SiteInfo& site, const SearchForm& form, const std::vector<forum::CategoryView>& categories,
                         const forum::SearchResults* results);
// An error page (404, 429, 500...); `message` is plain text.
std::string RenderError(const SiteInfo& site, int status, std::string_view message);

// The page of an unsubscribe link (issue 12). `confirm`: the GET page, whose
// button POSTs to `action` (the link's own path); otherwise the page after
// the POST: done. `who` is the masked recipient, `what` what the link stops
// ("answers in thread 12"): both plain text.
struct UnsubscribeView {
  bool confirm = true;
  std::string action;  // "/unsubscribe/TOKEN"
  std::string who;
  std::string what;
};
std::string RenderUnsubscribe(const SiteInfo& site, const UnsubscribeView& view);

// --- Atom feeds (application/atom+xml) ---
// All threads or one category's (entries are threads, newest activity first).
std::string RenderThreadsFeed(const SiteInfo& site, const std::optional<forum::CategoryView>& category,
                              const std::vector<forum::ThreadListItem>& threads);
// One thread's posts (entries are posts).
std::string RenderThreadFeed(const SiteInfo& site, const forum::ThreadView& thread);

// --- JSON API (application/json), documented in docs/web-api.md ---
std::string RenderThreadListJson(const SiteInfo& site, const forum::ThreadListPage& page);
std::string RenderThreadJson(const SiteInfo& site, const forum::ThreadView& thread);
std::string RenderSearchJson(const SiteInfo& site, const forum::SearchResults& results);

// The JSON of /healthz (also `mailforumctl status --json`): the overall status
// ("ok", or "failing" when a mailbox failed), the database ("ok": it answered),
// each mailbox's state, last success, failing time and last error, the outbox
// backlog and suppressed addresses.
std::string HealthJson(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit);

// The one stylesheet (/static/style.css).
std::string_view Stylesheet();

}  // namespace web

#endif  // MAILFORUM_WEB_VIEWS_H_
