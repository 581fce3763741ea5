// What the HTML, Atom and JSON views share: URLs, times, sizes, status
// labels and search snippets. Internal to web/ (the views' contract is
// web/views.h). Every function returns plain text that is still to be escaped
// for its surface, except the *Path/*Url functions, whose variable parts are
// percent-encoded already.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_WEB_VIEW_SUPPORT_H_
#define MAILFORUM_WEB_VIEW_SUPPORT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "forum/reader.h"
#include "web/views.h"

namespace web::internal {

// How many characters of a subject lists, titles and feeds show: a 200 KB
// subject must not make a list unreadable (the thread page shows it whole).
inline constexpr size_t kListSubjectChars = 200;
inline constexpr size_t kTitleSubjectChars = 120;

// 2026-12-04T20:27:12Z (RFC 3339, UTC), for <time datetime>, Atom and JSON.
std::string Iso8601(forum::Timestamp t);
// 2026-12-04 20:27 UTC, for reading.
std::string HumanTime(forum::Timestamp t);
// 512 bytes, 12.3 kB, 4.5 MB (SI units).
std::string HumanSize(int64_t bytes);

std::string ThreadPath(int64_t thread_id);
std::string CategoryPath(std::string_view slug);
std::string AttachmentPath(int64_t thread_id, int64_t post_id, int position);
// "?a=1&b=2" from name/value pairs (values percent-encoded); "" when empty.
std::string QueryString(const std::vector<std::pair<std::string_view, std::string>>& params);
// site.base_url + path: absolute URLs for feeds and JSON.
std::string AbsoluteUrl(const SiteInfo& site, std::string_view path);
// An Atom id for `path`: its absolute URL, or a tag: URI when the site has no
// base URL (an Atom id must be an absolute IRI).
std::string AtomId(const SiteInfo& site, std::string_view path);

// "Open", "Answered", "Resolved"; "" for any other value.
std::string_view StatusLabel(std::string_view status);
// The subject on one line, cleaned; "(no subject)" when blank.
std::string DisplaySubject(std::string_view subject);
// AuthorLabel, cleaned, on one line; never empty.
std::string DisplayAuthor(const forum::Author& author, AuthorDisplay display);
// "1 reply", "3 replies".
std::string ReplyCount(int64_t n);

// A search snippet split at forum::kMatchBegin/kMatchEnd into cleaned
// one-line pieces. Unbalanced markers are harmless: a second begin inside a
// match and an end outside one are ignored; a match left open ends with the
// snippet. Empty pieces are dropped.
struct SnippetPiece {
  std::string text;
  bool match = false;
};
std::vector<SnippetPiece> SplitSnippet(std::string_view snippet);

}  // namespace web::internal

#endif  // MAILFORUM_WEB_VIEW_SUPPORT_H_
