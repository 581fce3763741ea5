// The JSON documents of web/views.h (documented field by field in
// docs/web-api.md). Every string is cleaned first (valid UTF-8, no control
// or bidi override characters), so nlohmann-json never meets invalid UTF-8;
// the dump still replaces rather than throws, and no exception leaves here.
// Authors appear only as AuthorLabel; no address, no Message-ID.
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "web/html.h"
#include "web/view_support.h"
#include "web/views.h"

namespace web {
namespace {

using nlohmann::json;

json AuthorJson(const forum::Author& author, const SiteInfo& site) {
  return json{{"name", internal::DisplayAuthor(author, site.author_display)}};
}

json ThreadItemJson(const SiteInfo& site, const forum::ThreadListItem& t) {
  json tags = json::array();
  for (const std::string& tag : t.tags) tags.push_back(CleanLine(tag));
  return json{
      {"id", t.id},
      {"url", internal::AbsoluteUrl(site, internal::ThreadPath(t.id))},
      {"subject", CleanLine(t.subject)},
      {"status", CleanLine(t.status)},
      {"category",
       {{"slug", CleanLine(t.category_slug)},
        {"name", CleanLine(t.category_name)},
        {"url", internal::AbsoluteUrl(site, internal::CategoryPath(t.category_slug))}}},
      {"tags", std::move(tags)},
      {"reply_count", t.reply_count},
      {"author", AuthorJson(t.author, site)},
      {"created_at", internal::Iso8601(t.created_at)},
      {"last_post_at", internal::Iso8601(t.last_post_at)},
      {"changed_at", internal::Iso8601(t.changed_at)},
  };
}

// The shape of the site's API errors (docs/web-api.md), for a document that
// could not be made. Not expected: strings are clean before they reach
// nlohmann-json, and `replace` turns any invalid UTF-8 that slipped through
// into U+FFFD; this only keeps a JSON exception from crossing views.h.
constexpr std::string_view kInternalError =
    "{\"error\":{\"status\":500,\"message\":\"Something went wrong on our side.\"}}\n";

std::string Dump(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string RenderThreadListJson(const SiteInfo& site, const forum::ThreadListPage& page) {
  try {
    json threads = json::array();
    for (const forum::ThreadListItem& t : page.threads) threads.push_back(ThreadItemJson(site, t));
    json document{{"threads", std::move(threads)}, {"next", nullptr}};
    if (page.next) document["next"] = EncodeCursor(*page.next);
    return Dump(document);
  } catch (const json::exception&) {
    return std::string(kInternalError);
  }
}

std::string RenderThreadJson(const SiteInfo& site, const forum::ThreadView& thread) {
  try {
    const forum::ThreadListItem& t = thread.thread;
    json document = ThreadItemJson(site, t);
    document["category_description"] = CleanText(thread.category_description);
    document["accepted_post_id"] = thread.accepted_post_id ? json(*thread.accepted_post_id) : json(nullptr);
    document["reply_address"] = CleanLine(thread.reply_address);
    document["feed_url"] = internal::AbsoluteUrl(site, internal::ThreadPath(t.id) + "/feed.atom");
    json posts = json::array();
    for (const forum::PostView& p : thread.posts) {
      json attachments = json::array();
      for (const forum::AttachmentInfo& a : p.attachments) {
        attachments.push_back(json{
            {"position", a.position},
            {"filename", CleanLine(a.filename)},
            {"content_type", CleanLine(a.content_type)},
            {"size", a.size},
            {"url", internal::AbsoluteUrl(site, internal::AttachmentPath(t.id, p.id, a.position))},
        });
      }
      posts.push_back(json{
          {"id", p.id},
          {"url", internal::AbsoluteUrl(site, internal::ThreadPath(t.id) + "#post-" + std::to_string(p.id))},
          {"parent_post_id", p.parent_post_id ? json(*p.parent_post_id) : json(nullptr)},
          {"author", AuthorJson(p.author, site)},
          {"created_at", internal::Iso8601(p.created_at)},
          {"accepted", thread.accepted_post_id && *thread.accepted_post_id == p.id},
          {"body", CleanText(p.body)},
          {"elided", CleanText(p.elided)},
          {"attachments", std::move(attachments)},
      });
    }
    document["posts"] = std::move(posts);
    return Dump(document);
  } catch (const json::exception&) {
    return std::string(kInternalError);
  }
}

std::string RenderSearchJson(const SiteInfo& site, const forum::SearchResults& results) {
  try {
    json hits = json::array();
    for (const forum::SearchHit& hit : results.hits) {
      // The snippet as plain text, and where the matches are in it, counted
      // in Unicode code points (docs/web-api.md says why).
      std::string snippet;
      json highlights = json::array();
      size_t offset = 0;
      for (const internal::SnippetPiece& piece : internal::SplitSnippet(hit.snippet)) {
        const size_t length = CountChars(piece.text);
        if (piece.match) highlights.push_back(json{{"start", offset}, {"length", length}});
        snippet += piece.text;
        offset += length;
      }
      hits.push_back(json{
          {"thread", ThreadItemJson(site, hit.thread)},
          {"rank", std::isfinite(hit.rank) ? hit.rank : 0.0},
          {"snippet", std::move(snippet)},
          {"highlights", std::move(highlights)},
      });
    }
    return Dump(json{{"hits", std::move(hits)}, {"more", results.more}});
  } catch (const json::exception&) {
    return std::string(kInternalError);
  }
}

std::string HealthJson(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit) {
  nlohmann::json boxes = nlohmann::json::array();
  bool failed = false;
  for (const auto& m : mailboxes) {
    nlohmann::json box = {{"name", m.name}, {"state", forum::MailboxConditionName(m.condition)}};
    failed = failed || m.condition == forum::MailboxCondition::kFailed;
    if (m.health != nullptr) {
      box["last_success_age_seconds"] =
          m.health->last_success_age ? nlohmann::json(*m.health->last_success_age) : nullptr;
      box["failing_for_seconds"] = m.health->failing_for;
      if (m.health->failing_for > 0) box["last_error"] = m.health->last_error;
    }
    boxes.push_back(std::move(box));
  }
  nlohmann::json out = {
      {"status", failed ? "failing" : "ok"},
      {"database", "ok"},
      {"mailbox_failure_limit_seconds", failure_limit.count()},
      {"mailboxes", std::move(boxes)},
      {"outbox",
       {{"due", health.outbox_due},
        {"pending", health.outbox_pending},
        {"oldest_due_age_seconds", health.oldest_due_age ? nlohmann::json(*health.oldest_due_age) : nullptr}}},
      {"suppressed_addresses", health.suppressed_addresses}};
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace web
