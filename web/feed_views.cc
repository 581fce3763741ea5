// The Atom feeds (RFC 4287) of web/views.h. Every string from the database
// goes through XmlWriter::Text or ::Attr (XML 1.0 escaping and cleaning);
// markup is only ever a literal here. Ids are the pages' URLs, never a
// Message-ID; authors are AuthorLabel, never an address.
#include <algorithm>
#include <string>

#include "web/html.h"
#include "web/view_support.h"
#include "web/views.h"

namespace web {
namespace {

using internal::AbsoluteUrl;
using internal::AtomId;

std::string SiteName(const SiteInfo& site) {
  std::string name = CleanLine(site.name);
  return name.find_first_not_of(' ') == std::string::npos ? "Forum" : name;
}

void BeginFeed(XmlWriter& x, const SiteInfo& site, const std::string& title, const std::string& subtitle,
               const std::string& page_path, const std::string& feed_path, forum::Timestamp updated) {
  x.Xml("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>")
      .Text(title)
      .Xml("</title>\n");
  if (!subtitle.empty()) x.Xml("<subtitle>").Text(subtitle).Xml("</subtitle>\n");
  x.Xml("<id>").Text(AtomId(site, feed_path)).Xml("</id>\n");
  x.Xml("<link rel=\"self\" type=\"application/atom+xml\"")
      .Attr("href", AbsoluteUrl(site, feed_path))
      .Xml("/>\n");
  x.Xml("<link rel=\"alternate\" type=\"text/html\"").Attr("href", AbsoluteUrl(site, page_path)).Xml("/>\n");
  x.Xml("<updated>").Text(internal::Iso8601(updated)).Xml("</updated>\n");
  // A feed-level author makes every entry valid even if one had none.
  x.Xml("<author><name>").Text(SiteName(site)).Xml("</name></author>\n");
  x.Xml("<generator>mailforum</generator>\n");
}

void Category(XmlWriter& x, const forum::ThreadListItem& t) {
  if (t.category_slug.empty()) return;
  x.Xml("<category").Attr("term", t.category_slug).Attr("label", CleanLine(t.category_name)).Xml("/>\n");
}

}  // namespace

std::string RenderThreadsFeed(const SiteInfo& site, const std::optional<forum::CategoryView>& category,
                              const std::vector<forum::ThreadListItem>& threads) {
  forum::Timestamp updated{};
  for (const forum::ThreadListItem& t : threads) updated = std::max(updated, t.changed_at);
  const std::string page_path = category ? internal::CategoryPath(category->slug) : std::string("/");
  const std::string feed_path = category ? page_path + "/feed.atom" : std::string("/feed.atom");
  std::string title = SiteName(site);
  if (category) title += " \xE2\x80\x94 " + internal::DisplaySubject(category->name);

  XmlWriter x;
  BeginFeed(x, site, title, category ? CleanLine(category->description) : std::string(), page_path, feed_path,
            updated);
  for (const forum::ThreadListItem& t : threads) {
    const std::string path = internal::ThreadPath(t.id);
    x.Xml("<entry>\n<id>").Text(AtomId(site, path)).Xml("</id>\n<title type=\"text\">");
    x.Text(TruncateChars(internal::DisplaySubject(t.subject), internal::kListSubjectChars)).Xml("</title>\n");
    x.Xml("<link rel=\"alternate\" type=\"text/html\"").Attr("href", AbsoluteUrl(site, path)).Xml("/>\n");
    x.Xml("<published>").Text(internal::Iso8601(t.created_at)).Xml("</published>\n");
    x.Xml("<updated>").Text(internal::Iso8601(t.changed_at)).Xml("</updated>\n");
    x.Xml("<author><name>")
        .Text(internal::DisplayAuthor(t.author, site.author_display))
        .Xml("</name></author>\n");
    Category(x, t);
    std::string summary(internal::StatusLabel(t.status));
    if (summary.empty()) summary = CleanLine(t.status);
    summary += " \xC2\xB7 " + internal::DisplaySubject(t.category_name) + " \xC2\xB7 " +
               internal::ReplyCount(t.reply_count);
    x.Xml("<summary type=\"text\">").Text(summary).Xml("</summary>\n</entry>\n");
  }
  x.Xml("</feed>\n");
  return std::move(x).Take();
}

std::string RenderThreadFeed(const SiteInfo& site, const forum::ThreadView& thread) {
  const forum::ThreadListItem& t = thread.thread;
  const std::string path = internal::ThreadPath(t.id);
  const std::string subject = TruncateChars(internal::DisplaySubject(t.subject), internal::kListSubjectChars);

  XmlWriter x;
  BeginFeed(x, site, subject, std::string(), path, path + "/feed.atom", t.changed_at);
  for (size_t i = 0; i < thread.posts.size(); ++i) {
    const forum::PostView& p = thread.posts[i];
    const std::string post_path = path + "#post-" + std::to_string(p.id);
    const bool accepted = thread.accepted_post_id && *thread.accepted_post_id == p.id && i > 0;
    x.Xml("<entry>\n<id>").Text(AtomId(site, post_path)).Xml("</id>\n<title type=\"text\">");
    if (i == 0) {
      x.Text(subject);
    } else if (accepted) {
      x.Xml("Accepted answer: ").Text(subject);
    } else {
      x.Xml("Re: ").Text(subject);
    }
    x.Xml("</title>\n");
    x.Xml("<link rel=\"alternate\" type=\"text/html\"")
        .Attr("href", AbsoluteUrl(site, post_path))
        .Xml("/>\n");
    for (const forum::AttachmentInfo& a : p.attachments) {
      // No type attribute: the declared type is the sender's word, and the
      // server sends attachments as text/plain or octet-stream anyway.
      x.Xml("<link rel=\"enclosure\"")
          .Attr("href", AbsoluteUrl(site, internal::AttachmentPath(t.id, p.id, a.position)))
          .Attr("title", CleanLine(a.filename))
          .Attr("length", std::to_string(std::max<int64_t>(a.size, 0)))
          .Xml("/>\n");
    }
    x.Xml("<published>").Text(internal::Iso8601(p.created_at)).Xml("</published>\n");
    x.Xml("<updated>").Text(internal::Iso8601(p.created_at)).Xml("</updated>\n");
    x.Xml("<author><name>")
        .Text(internal::DisplayAuthor(p.author, site.author_display))
        .Xml("</name></author>\n");
    if (i == 0) Category(x, t);
    x.Xml("<content type=\"text\">").Text(p.body).Xml("</content>\n</entry>\n");
  }
  x.Xml("</feed>\n");
  return std::move(x).Take();
}

}  // namespace web
