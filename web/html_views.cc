// The HTML pages of web/views.h. Every string from the database goes through
// HtmlWriter::Text or ::Attr; markup is only ever a literal here.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "web/html.h"
#include "web/view_support.h"
#include "web/views.h"

namespace web {
namespace {

using internal::DisplayAuthor;
using internal::DisplaySubject;

std::string SiteName(const SiteInfo& site) {
  std::string name = CleanLine(site.name);
  return name.find_first_not_of(' ') == std::string::npos ? "Forum" : name;
}

// What the page frame needs besides the main content.
struct Frame {
  std::string title;                                             // the page's own title, before " — site"
  const std::vector<forum::CategoryView>* categories = nullptr;  // navigation; may be null
  std::string current_path;                                      // marked aria-current in the navigation
  std::string feed_path;                                         // an Atom feed for this page; "" for none
  std::string feed_title;
};

void NavLink(HtmlWriter& w, const std::string& path, std::string_view text, const Frame& frame) {
  w.Html("<li><a");
  w.Href(path);
  if (path == frame.current_path) w.Html(" aria-current=\"page\"");
  w.Html(">").Text(text).Html("</a></li>");
}

void BeginPage(HtmlWriter& w, const SiteInfo& site, const Frame& frame) {
  const std::string site_name = SiteName(site);
  w.Html(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  w.Text(TruncateChars(frame.title, internal::kTitleSubjectChars)).Html(" \xE2\x80\x94 ").Text(site_name);
  w.Html("</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n");
  if (!frame.feed_path.empty()) {
    w.Html("<link rel=\"alternate\" type=\"application/atom+xml\"")
        .Attr("title", frame.feed_title)
        .Attr("href", frame.feed_path)
        .Html(">\n");
  }
  w.Html(
      "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header>\n<p "
      "class=\"site\"><a");
  w.Href("/");
  w.Html(">").Text(site_name).Html("</a></p>\n<nav aria-label=\"Site\">\n<ul>");
  NavLink(w, "/", "All threads", frame);
  if (frame.categories != nullptr) {
    for (const forum::CategoryView& category : *frame.categories) {
      NavLink(w, internal::CategoryPath(category.slug), DisplaySubject(category.name), frame);
    }
  }
  NavLink(w, "/search", "Search", frame);
  w.Html("</ul>\n</nav>\n</header>\n<main id=\"main\">\n");
}

void EndPage(HtmlWriter& w, const Frame& frame) {
  w.Html("</main>\n<footer>\n<p>");
  if (!frame.feed_path.empty()) {
    w.Html("<a");
    w.Href(frame.feed_path);
    w.Html(">Atom feed</a> \xC2\xB7 ");
  }
  w.Html(
      "Questions and answers here arrive by email; to answer, use \"Answer by email\" on a thread's "
      "page.</p>\n</footer>\n</body>\n</html>\n");
}

void Time(HtmlWriter& w, forum::Timestamp t) {
  w.Html("<time")
      .Attr("datetime", internal::Iso8601(t))
      .Html(">")
      .Text(internal::HumanTime(t))
      .Html("</time>");
}

// A status as text (never colour alone); the class comes from a fixed set.
void StatusBadge(HtmlWriter& w, std::string_view status) {
  const std::string_view label = internal::StatusLabel(status);
  if (status == "open") {
    w.Html("<span class=\"status status-open\">");
  } else if (status == "answered") {
    w.Html("<span class=\"status status-answered\">");
  } else if (status == "resolved") {
    w.Html("<span class=\"status status-resolved\">");
  } else {
    w.Html("<span class=\"status\">");
  }
  if (label.empty()) {
    const std::string other = TruncateChars(CleanLine(status), 40);
    w.Text(other.empty() ? std::string("Unknown") : other);
  } else {
    w.Text(label);
  }
  w.Html("</span>");
}

void Bdi(HtmlWriter& w, std::string_view text) { w.Html("<bdi>").Text(text).Html("</bdi>"); }

// A link when `url` is safe, plain text otherwise.
void Link(HtmlWriter& w, std::string_view url, std::string_view text) {
  HtmlWriter anchor;
  anchor.Html("<a");
  if (anchor.Href(url)) {
    w.Append(anchor).Html(">").Text(text).Html("</a>");
  } else {
    w.Text(text);
  }
}

// The meta line of a thread in a list or search result.
void ThreadMeta(HtmlWriter& w, const SiteInfo& site, const forum::ThreadListItem& t) {
  w.Html("<p class=\"meta\">");
  StatusBadge(w, t.status);
  w.Html(" in ");
  Link(w, internal::CategoryPath(t.category_slug), DisplaySubject(t.category_name));
  w.Html(" \xC2\xB7 asked by ");
  Bdi(w, DisplayAuthor(t.author, site.author_display));
  w.Html(" \xC2\xB7 ").Text(internal::ReplyCount(t.reply_count)).Html(" \xC2\xB7 last activity ");
  Time(w, t.last_post_at);
  if (!t.tags.empty()) {
    w.Html(" \xC2\xB7 tags: ");
    for (size_t i = 0; i < t.tags.size(); ++i) {
      if (i > 0) w.Html(", ");
      Bdi(w, CleanLine(t.tags[i]));
    }
  }
  w.Html("</p>\n");
}

// A subject linking to its thread, cut to a length a list can show.
void SubjectLink(HtmlWriter& w, const forum::ThreadListItem& t) {
  w.Html("<a class=\"subject\"");
  w.Href(internal::ThreadPath(t.id));
  w.Html(">");
  Bdi(w, TruncateChars(DisplaySubject(t.subject), internal::kListSubjectChars));
  w.Html("</a>");
}

bool IsUrlChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7F) return false;  // spaces, controls and non-ASCII end a bare URL
  return c != '<' && c != '>' && c != '"' && c != '`' && c != '\\' && c != '{' && c != '}' && c != '|' &&
         c != '^';
}

bool IsWordChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || u >= 0x80;
}

bool StartsUrlAt(std::string_view text, size_t i) {
  auto lower_eq = [&](std::string_view prefix) {
    if (text.size() - i < prefix.size()) return false;
    for (size_t k = 0; k < prefix.size(); ++k) {
      char c = text[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[k]) return false;
    }
    return true;
  };
  return lower_eq("http://") || lower_eq("https://");
}

// Where a bare URL starting at `begin` ends: trailing punctuation belongs to
// the sentence, and a closing parenthesis only when it has no opener.
size_t UrlEnd(std::string_view text, size_t begin) {
  size_t end = begin;
  while (end < text.size() && IsUrlChar(text[end])) ++end;
  while (end > begin) {
    const char last = text[end - 1];
    if (last == '.' || last == ',' || last == ';' || last == ':' || last == '!' || last == '?' ||
        last == '\'' || last == '*') {
      --end;
      continue;
    }
    if (last == ')' || last == ']') {
      const char open = last == ')' ? '(' : '[';
      const std::string_view url = text.substr(begin, end - begin);
      const auto opens = std::count(url.begin(), url.end(), open);
      const auto closes = std::count(url.begin(), url.end(), last);
      if (closes > opens) {
        --end;
        continue;
      }
    }
    break;
  }
  return end;
}

// Text with its line breaks as <br> (the newline characters themselves are
// left out, so white-space: pre-wrap keeps indentation without doubling the
// breaks; text browsers see the <br>).
void TextWithBreaks(HtmlWriter& w, std::string_view text) {
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    w.Text(text.substr(start, i - start));
    if (text[i] == '\n') w.Html("<br>");
    start = i + 1;
  }
  w.Text(text.substr(start));
}

// A post body: escaped text, line breaks kept, bare http/https URLs linked.
void BodyText(HtmlWriter& w, std::string_view raw) {
  const std::string text = CleanText(raw);
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if ((c == 'h' || c == 'H') && (i == 0 || !IsWordChar(text[i - 1])) && StartsUrlAt(text, i)) {
      const size_t end = UrlEnd(text, i);
      const std::string_view url = std::string_view(text).substr(i, end - i);
      if (IsWebUrl(url)) {
        TextWithBreaks(w, std::string_view(text).substr(start, i - start));
        w.Html("<a").Attr("href", url).Html(" rel=\"nofollow ugc noopener\">").Text(url).Html("</a>");
        start = i = end;
        continue;
      }
    }
    ++i;
  }
  TextWithBreaks(w, std::string_view(text).substr(start));
}

void ThreadListItemHtml(HtmlWriter& w, const SiteInfo& site, const forum::ThreadListItem& t) {
  w.Html("<li class=\"thread\">\n<h2>");
  SubjectLink(w, t);
  w.Html("</h2>\n");
  ThreadMeta(w, site, t);
  w.Html("</li>\n");
}

std::string ListBasePath(const ListContext& context) {
  return context.category ? internal::CategoryPath(context.category->slug) : std::string("/");
}

void PostHtml(HtmlWriter& w, const SiteInfo& site, const forum::ThreadView& thread,
              const forum::PostView& post, bool accepted) {
  w.Html("<article class=\"post");
  if (accepted) w.Html(" accepted");
  w.Html("\"").Attr("id", "post-" + std::to_string(post.id)).Html(">\n<h3>");
  Bdi(w, DisplayAuthor(post.author, site.author_display));
  w.Html(" <span class=\"when\">wrote on ");
  Time(w, post.created_at);
  w.Html("</span></h3>\n");
  w.Html("<div class=\"body\">");
  BodyText(w, post.body);
  w.Html("</div>\n");
  if (!post.elided.empty()) {
    w.Html("<details>\n<summary>Show quoted text</summary>\n<pre class=\"elided\">")
        .Text(post.elided)
        .Html("</pre>\n</details>\n");
  }
  if (!post.attachments.empty()) {
    w.Html("<h4>Attachments</h4>\n<ul class=\"attachments\">\n");
    for (const forum::AttachmentInfo& a : post.attachments) {
      std::string name = CleanLine(a.filename);
      if (name.find_first_not_of(' ') == std::string::npos)
        name = "attachment " + std::to_string(a.position + 1);
      w.Html("<li><a");
      w.Href(internal::AttachmentPath(thread.thread.id, post.id, a.position));
      w.Html(" download>");
      Bdi(w, TruncateChars(name, internal::kListSubjectChars));
      w.Html("</a> (").Text(internal::HumanSize(a.size));
      const std::string type = CleanLine(a.content_type);
      if (!type.empty()) w.Html(", ").Text(TruncateChars(type, 100));
      w.Html(")</li>\n");
    }
    w.Html("</ul>\n");
  }
  w.Html("</article>\n");
}

void ReplyByEmail(HtmlWriter& w, const forum::ThreadView& thread) {
  w.Html("<section class=\"reply\" aria-labelledby=\"reply\">\n<h2 id=\"reply\">Answer by email</h2>\n");
  const std::string address = CleanLine(thread.reply_address);
  if (address.empty() || address.find('@') == std::string::npos) {
    w.Html("<p>Replies by email are not yet open for this thread. Please come back in a few minutes.</p>\n");
  } else {
    std::string subject = DisplaySubject(thread.thread.subject);
    if (!(subject.size() >= 3 && (subject[0] == 'R' || subject[0] == 'r') &&
          (subject[1] == 'E' || subject[1] == 'e') && subject[2] == ':')) {
      subject = "Re: " + subject;
    }
    // The reply address routes the mail; a very long subject only needs to be recognisable.
    const std::string mailto = "mailto:" + MailtoEncode(address) + "?subject=" +
                               PercentEncode(TruncateChars(subject, internal::kListSubjectChars));
    w.Html("<p>");
    Link(w, mailto, "Answer by email");
    w.Html(": write to <code>").Text(address).Html("</code>.</p>\n");
    w.Html(
        "<p>How replying works: your reply is posted in this thread for everyone to read. Quoted text from "
        "earlier messages is cut from it. You can reply from any address, and your address is never shown. "
        "Only the person who asked (proven by their mail domain's DMARC) can mark the thread resolved, by "
        "writing <code>#resolved</code> in a reply.</p>\n");
  }
  w.Html("</section>\n");
}

}  // namespace

std::string RenderThreadList(const SiteInfo& site, const ListContext& context,
                             const forum::ThreadListPage& page) {
  Frame frame;
  frame.categories = &context.categories;
  frame.current_path = ListBasePath(context);
  const std::string_view status_label = context.status ? internal::StatusLabel(*context.status) : "";
  if (context.category) {
    frame.title = DisplaySubject(context.category->name);
    frame.feed_path = internal::CategoryPath(context.category->slug) + "/feed.atom";
    frame.feed_title = "Threads in " + frame.title;
  } else {
    frame.title = "All threads";
    frame.feed_path = "/feed.atom";
    frame.feed_title = "All threads";
  }
  if (!status_label.empty()) frame.title += " (" + std::string(status_label) + ")";

  HtmlWriter w;
  w.Reserve(4096 + page.threads.size() * 700);
  BeginPage(w, site, frame);
  w.Html("<h1>");
  Bdi(w, frame.title);
  w.Html("</h1>\n");
  if (context.category && !context.category->description.empty()) {
    w.Html("<p class=\"description\">").Text(CleanText(context.category->description)).Html("</p>\n");
  }

  // Status filters: links, so they work without a form or script.
  const std::string base = ListBasePath(context);
  w.Html("<nav aria-label=\"Filter by status\">\n<ul class=\"filters\">");
  const std::pair<std::string_view, std::string_view> filters[] = {
      {"", "All"}, {"open", "Open"}, {"answered", "Answered"}, {"resolved", "Resolved"}};
  for (const auto& [value, label] : filters) {
    const bool current = value.empty() ? !context.status : (context.status && *context.status == value);
    w.Html("<li><a");
    w.Href(value.empty() ? base : base + internal::QueryString({{"status", std::string(value)}}));
    if (current) w.Html(" aria-current=\"page\"");
    w.Html(">").Text(label).Html("</a></li>");
  }
  w.Html("</ul>\n</nav>\n");

  if (page.threads.empty()) {
    w.Html("<p>No threads here yet.</p>\n");
  } else {
    w.Html("<ol class=\"threads\">\n");
    for (const forum::ThreadListItem& t : page.threads) ThreadListItemHtml(w, site, t);
    w.Html("</ol>\n");
  }
  if (page.next) {
    std::vector<std::pair<std::string_view, std::string>> params;
    if (context.status) params.emplace_back("status", *context.status);
    params.emplace_back("after", EncodeCursor(*page.next));
    w.Html("<nav aria-label=\"Pages\">\n<p><a rel=\"next\"");
    w.Href(base + internal::QueryString(params));
    w.Html(">Next page</a></p>\n</nav>\n");
  }
  EndPage(w, frame);
  return std::move(w).Take();
}

std::string RenderThread(const SiteInfo& site, const forum::ThreadView& thread) {
  const forum::ThreadListItem& t = thread.thread;
  Frame frame;
  frame.title = DisplaySubject(t.subject);
  frame.feed_path = internal::ThreadPath(t.id) + "/feed.atom";
  frame.feed_title = "Posts in this thread";
  const std::vector<forum::CategoryView> categories = {
      forum::CategoryView{t.category_slug, t.category_name, thread.category_description, 0}};
  frame.categories = &categories;

  HtmlWriter w;
  size_t text_size = t.subject.size();
  for (const forum::PostView& p : thread.posts) text_size += p.body.size() + p.elided.size();
  w.Reserve(4096 + text_size + text_size / 8 + thread.posts.size() * 600);
  BeginPage(w, site, frame);
  w.Html("<article class=\"thread\">\n<h1 class=\"subject\">");
  Bdi(w, frame.title);  // whole: the stylesheet wraps it anywhere
  w.Html("</h1>\n");
  ThreadMeta(w, site, t);

  const forum::PostView* accepted = nullptr;
  if (thread.accepted_post_id) {
    for (size_t i = 1; i < thread.posts.size(); ++i) {
      if (thread.posts[i].id == *thread.accepted_post_id) accepted = &thread.posts[i];
    }
  }
  if (!thread.posts.empty()) {
    w.Html("<section aria-labelledby=\"question\">\n<h2 id=\"question\">Question</h2>\n");
    PostHtml(w, site, thread, thread.posts[0], false);
    w.Html("</section>\n");
  }
  if (accepted != nullptr) {
    w.Html("<section aria-labelledby=\"accepted\">\n<h2 id=\"accepted\">Accepted answer</h2>\n");
    PostHtml(w, site, thread, *accepted, true);
    w.Html("</section>\n");
  }
  const size_t others = thread.posts.empty() ? 0 : thread.posts.size() - 1 - (accepted != nullptr ? 1 : 0);
  if (others > 0) {
    w.Html("<section aria-labelledby=\"replies\">\n<h2 id=\"replies\">")
        .Text(accepted != nullptr
                  ? (others == 1 ? std::string("1 other reply") : std::to_string(others) + " other replies")
                  : internal::ReplyCount(static_cast<int64_t>(others)))
        .Html("</h2>\n");
    for (size_t i = 1; i < thread.posts.size(); ++i) {
      if (&thread.posts[i] == accepted) continue;
      PostHtml(w, site, thread, thread.posts[i], false);
    }
    w.Html("</section>\n");
  }
  ReplyByEmail(w, thread);
  w.Html("</article>\n");
  EndPage(w, frame);
  return std::move(w).Take();
}

std::string RenderSearch(const SiteInfo& site, const SearchForm& form,
                         const std::vector<forum::CategoryView>& categories,
                         const forum::SearchResults* results) {
  Frame frame;
  frame.title = results != nullptr ? "Search: " + CleanLine(form.text) : std::string("Search");
  frame.categories = &categories;
  frame.current_path = "/search";

  HtmlWriter w;
  BeginPage(w, site, frame);
  w.Html("<h1>Search</h1>\n<form action=\"/search\" method=\"get\" role=\"search\">\n");
  w.Html(
       "<p><label for=\"q\">Words to find</label>\n<input id=\"q\" name=\"q\" type=\"search\" "
       "maxlength=\"500\"")
      .Attr("value", CleanLine(form.text))
      .Html("></p>\n");
  w.Html(
      "<p><label for=\"category\">Category</label>\n<select id=\"category\" name=\"category\">\n"
      "<option value=\"\">All categories</option>\n");
  for (const forum::CategoryView& c : categories) {
    w.Html("<option").Attr("value", c.slug);
    if (form.category_slug && *form.category_slug == c.slug) w.Html(" selected");
    w.Html(">").Text(DisplaySubject(c.name)).Html("</option>\n");
  }
  w.Html(
      "</select></p>\n<p><label for=\"status\">Status</label>\n<select id=\"status\" name=\"status\">\n"
      "<option value=\"\">Any status</option>\n");
  for (const std::string_view value : {"open", "answered", "resolved"}) {
    w.Html("<option").Attr("value", value);
    if (form.status && *form.status == value) w.Html(" selected");
    w.Html(">").Text(internal::StatusLabel(value)).Html("</option>\n");
  }
  w.Html(
      "</select></p>\n<p><button type=\"submit\">Search</button></p>\n</form>\n"
      "<p class=\"hint\">Words are all required; put a phrase in \"quotes\", write <code>-word</code> to "
      "leave a "
      "word out, and put <code>or</code> between alternatives. Quoted history in mail is not searched.</p>\n");

  if (results != nullptr) {
    w.Html("<section aria-labelledby=\"results\">\n<h2 id=\"results\">");
    if (results->hits.empty()) {
      if (form.page > 1) {
        w.Html("No more results</h2>\n");
      } else {
        w.Html("No threads match</h2>\n");
      }
    } else {
      w.Html("Results</h2>\n<ol class=\"results\">\n");
      for (const forum::SearchHit& hit : results->hits) {
        w.Html("<li>\n<h3>");
        SubjectLink(w, hit.thread);
        w.Html("</h3>\n");
        ThreadMeta(w, site, hit.thread);
        w.Html("<p class=\"snippet\">");
        // The snippet is escaped piece by piece; only the literal <mark>
        // tags come from here, always in pairs.
        for (const internal::SnippetPiece& piece : internal::SplitSnippet(hit.snippet)) {
          if (piece.match) {
            w.Html("<mark>").Text(piece.text).Html("</mark>");
          } else {
            w.Text(piece.text);
          }
        }
        w.Html("</p>\n</li>\n");
      }
      w.Html("</ol>\n");
    }
    auto page_url = [&](int page) {
      std::vector<std::pair<std::string_view, std::string>> params = {{"q", form.text}};
      if (form.category_slug) params.emplace_back("category", *form.category_slug);
      if (form.status) params.emplace_back("status", *form.status);
      if (page > 1) params.emplace_back("page", std::to_string(page));
      return "/search" + internal::QueryString(params);
    };
    if (form.page > 1 || results->more) {
      w.Html("<nav aria-label=\"Pages\">\n<ul class=\"pages\">");
      if (form.page > 1) {
        w.Html("<li><a rel=\"prev\"");
        w.Href(page_url(form.page - 1));
        w.Html(">Previous page</a></li>");
      }
      if (results->more) {
        w.Html("<li><a rel=\"next\"");
        w.Href(page_url(form.page + 1));
        w.Html(">Next page</a></li>");
      }
      w.Html("</ul>\n</nav>\n");
    }
    w.Html("</section>\n");
  }
  EndPage(w, frame);
  return std::move(w).Take();
}

std::string RenderError(const SiteInfo& site, int status, std::string_view message) {
  std::string_view reason;
  switch (status) {
    case 400:
      reason = "Bad request";
      break;
    case 403:
      reason = "Forbidden";
      break;
    case 404:
      reason = "Not found";
      break;
    case 405:
      reason = "Method not allowed";
      break;
    case 413:
      reason = "Request too large";
      break;
    case 414:
      reason = "Address too long";
      break;
    case 429:
      reason = "Too many requests";
      break;
    case 431:
      reason = "Request headers too large";
      break;
    case 500:
      reason = "Internal error";
      break;
    case 503:
      reason = "Service unavailable";
      break;
    default:
      reason = status >= 500 ? "Server error" : "Error";
      break;
  }
  Frame frame;
  frame.title = std::to_string(status) + " " + std::string(reason);
  HtmlWriter w;
  BeginPage(w, site, frame);
  w.Html("<h1>").Text(frame.title).Html("</h1>\n<p>").Text(CleanText(message)).Html("</p>\n<p><a");
  w.Href("/");
  w.Html(">Back to all threads</a></p>\n");
  EndPage(w, frame);
  return std::move(w).Take();
}

std::string RenderUnsubscribe(const SiteInfo& site, const UnsubscribeView& view) {
  Frame frame;
  frame.title = view.confirm ? "Unsubscribe" : "Unsubscribed";
  HtmlWriter w;
  BeginPage(w, site, frame);
  w.Html("<h1>").Text(frame.title).Html("</h1>\n<p>");
  if (view.confirm) {
    w.Text("Stop sending " + CleanText(view.what) + " to " + CleanText(view.who) + "?");
    // A link scanner fetches links; only this button (a POST) unsubscribes.
    w.Html("</p>\n<form method=\"post\"").Attr("action", view.action);
    w.Html(
        ">\n<p><button type=\"submit\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\">Unsubscribe</button></p>\n</form>\n");
  } else {
    w.Text(CleanText(view.who) + " gets no more " + CleanText(view.what) +
           ". Writing to the thread again, "
           "or asking the administrators, undoes this.");
    w.Html("</p>\n");
  }
  w.Html("<p><a");
  w.Href("/");
  w.Html(">Back to all threads</a></p>\n");
  EndPage(w, frame);
  return std::move(w).Take();
}

std::string_view Stylesheet() {
  // Colours meet WCAG AA (4.5:1 or better for text) on their backgrounds; the
  // system font; nothing from another origin.
  static constexpr std::string_view kCss = R"css(:root { color-scheme: light; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; }
body { margin: 0 auto; max-width: 48rem; padding: 0 1rem 2rem; color: #1b1b1b; background: #fff; }
a { color: #0b57d0; }
a:visited { color: #6a1b9a; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid #1b1b1b; outline-offset: 2px; }
.skip { position: absolute; left: -10000px; }
.skip:focus { position: static; left: auto; }
header { border-bottom: 1px solid #c4c4c4; margin-bottom: 1rem; }
header .site { font-weight: bold; font-size: 1.2rem; margin: 0.75rem 0 0.25rem; }
nav ul, .filters, .pages { list-style: none; padding: 0; margin: 0.25rem 0 0.75rem; }
nav li, .filters li, .pages li { display: inline-block; margin-right: 1rem; }
[aria-current="page"] { font-weight: bold; color: #1b1b1b; }
h1, h2, h3, h4, .subject, .meta, .snippet, .description { overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; line-height: 1.25; }
.threads, .results { padding-left: 1.5rem; }
.threads h2, .results h3 { font-size: 1.1rem; margin: 1rem 0 0.1rem; }
.meta, .when, .hint { color: #4a4a4a; font-size: 0.95rem; }
.meta { margin: 0 0 0.5rem; }
.status { display: inline-block; border: 1px solid currentColor; border-radius: 0.25rem; padding: 0 0.35rem;
  font-size: 0.85rem; font-weight: bold; }
.status-open { color: #7a3e00; background: #fff4e0; }
.status-answered { color: #0b4f9c; background: #e8f1fc; }
.status-resolved { color: #1b5e20; background: #e9f5ea; }
.post { border-top: 1px solid #dcdcdc; padding: 0.5rem 0; }
.post h3 { font-size: 1rem; margin: 0.5rem 0; }
.accepted { border-left: 4px solid #1b5e20; padding-left: 0.75rem; }
.body, pre { white-space: pre-wrap; overflow-wrap: anywhere; }
pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9rem; background: #f4f4f4;
  color: #1b1b1b; padding: 0.5rem; margin: 0.25rem 0; }
summary { cursor: pointer; color: #0b57d0; }
.attachments { padding-left: 1.5rem; }
.reply { border-top: 2px solid #c4c4c4; margin-top: 1.5rem; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
mark { background: #ffe082; color: #1b1b1b; }
label { display: block; font-weight: bold; }
input, select, button { font: inherit; max-width: 100%; }
input[type="search"] { width: 100%; box-sizing: border-box; padding: 0.3rem; }
button { padding: 0.3rem 1rem; }
footer { border-top: 1px solid #c4c4c4; margin-top: 2rem; color: #4a4a4a; font-size: 0.9rem; }
)css";
  return kCss;
}

}  // namespace web
