#include "web/views.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/test_env.h"
#include "web/html.h"
#include "web/markup_check.h"

namespace web {
namespace {

using webtest::CheckMarkup;
using webtest::MarkupKind;
using webtest::MarkupReport;

// Hostile pieces, each of which would do harm if it reached a page as markup.
const std::string kScript = "<script>alert('xss')</script>";
const std::string kImg = "\"><img src=x onerror=alert(1)>";
const std::string kAttr = "' onmouseover='alert(2)' x='";
const std::string kNul = std::string("nul\0byte", 8);
const std::string kBadUtf8 = "bad\xFF\xFE\xC0\xAFutf8";
const std::string kRlo = "invoice\xE2\x80\xAEgpj.exe";
const std::string kXmlBreak = "]]></content></entry><!-- </script>";
const std::string kCss = "</style><style>body{background:url(https://evil.example/x)}</style>";
const std::string kHostile = kScript + kImg + kAttr + kNul + kBadUtf8 + kRlo + kXmlBreak + kCss;

// The poster's address: it must never appear, not even its local part
// beyond the two characters a masked label shows.
const std::string kSecretAddress = "victimlocal@secret-domain.example";
const std::string kSecretLocal = "victimlocal";

forum::Timestamp At(int64_t seconds) { return forum::Timestamp(std::chrono::seconds(seconds)); }

SiteInfo Site() {
  return SiteInfo{"Help <desk> & \"co\"" + kScript, "https://help.example.com", AuthorDisplay::kName};
}

forum::ThreadListItem HostileItem(int64_t id) {
  forum::ThreadListItem t;
  t.id = id;
  t.subject = "Printer " + kHostile;
  t.status = "open";
  t.category_slug = "it\"><script>";
  t.category_name = "IT " + kScript;
  t.tags = {"tag" + kImg, kRlo};
  t.reply_count = 3;
  t.author = forum::Author{"Mallory " + kScript, kSecretAddress};
  t.created_at = At(1'700'000'000);
  t.last_post_at = At(1'700'003'600);
  t.changed_at = At(1'700'007'200);
  return t;
}

forum::PostView Post(int64_t id, std::string body, forum::Author author) {
  forum::PostView p;
  p.id = id;
  p.author = std::move(author);
  p.body = std::move(body);
  p.created_at = At(1'700'000'000 + id);
  return p;
}

forum::ThreadView HostileThread() {
  forum::ThreadView v;
  v.thread = HostileItem(42);
  v.category_description = "Desc " + kScript;
  v.reply_address = "help+tok3n@forum.example";
  forum::PostView question = Post(100,
                                  "QUESTION-TEXT " + kHostile +
                                      "\nsee javascript:alert(3) and data:text/html,<script>alert(4)</script>"
                                      "\nand https://ok.example/a?b=1&c=<2> and JAVASCRIPT://x%0Aalert(5)"
                                      "\nvbscript:msgbox(6) http://evil\"onmouseover=\"alert(7)",
                                  forum::Author{"", kSecretAddress});
  question.elided = "ELIDED-TEXT > quoted " + kHostile;
  question.attachments = {
      forum::AttachmentInfo{0, "report" + kImg + ".html", "text/html\"><script>", 123456},
      forum::AttachmentInfo{1, "", "image/svg+xml", 10},
  };
  v.posts.push_back(std::move(question));
  v.posts.push_back(Post(101, "FIRST-REPLY " + kHostile, forum::Author{kSecretAddress, kSecretAddress}));
  v.posts.push_back(Post(102, "ACCEPTED-TEXT " + kHostile, forum::Author{"Helper", "helper@example.com"}));
  v.posts.push_back(Post(103, "LAST-REPLY " + kHostile,
                         forum::Author{"\xE2\x80\xAE"
                                       "Eve",
                                       kSecretAddress}));
  v.posts.back().parent_post_id = 102;
  v.accepted_post_id = 102;
  return v;
}

// Every element a page may have: a hostile string that became markup would
// show up as another element (or as a parse error).
const std::set<std::string> kHtmlElements = {
    "html", "head", "meta",    "title",   "link",   "body",   "a",       "header",  "p",    "nav",
    "ul",   "li",   "main",    "h1",      "h2",     "h3",     "h4",      "footer",  "time", "span",
    "bdi",  "ol",   "section", "article", "div",    "br",     "details", "summary", "pre",  "strong",
    "code", "form", "label",   "input",   "select", "option", "button",  "mark"};

// The checks every HTML page must pass, whatever its data.
MarkupReport CheckPage(const std::string& page) {
  const MarkupReport report = CheckMarkup(page, MarkupKind::kHtml);
  EXPECT_TRUE(report.ok()) << report.error;
  for (const webtest::Element& e : report.elements) {
    EXPECT_EQ(kHtmlElements.count(e.name), 1u) << "unexpected element <" << e.name << ">";
    for (const auto& [name, value] : e.attributes) {
      EXPECT_NE(name.substr(0, 2), "on") << "event handler attribute " << name;
      EXPECT_NE(name, "style");
      EXPECT_NE(name, "src");
    }
  }
  for (const std::string& href : report.AttributeValues("href")) {
    EXPECT_TRUE(IsSafeHref(href)) << href;
    EXPECT_EQ(href.find("javascript"), std::string::npos) << href;
  }
  // Nothing from another origin: one stylesheet, from here.
  for (const webtest::Element& e : report.elements) {
    if (e.name != "link") continue;
    for (const auto& [name, value] : e.attributes) {
      if (name == "href") {
        EXPECT_EQ(value.substr(0, 1), "/") << value;
      }
    }
  }
  EXPECT_EQ(page.find(kSecretLocal), std::string::npos) << "a poster's address leaked";
  EXPECT_EQ(page.find("<script"), std::string::npos);
  // The frame: a document in a language, with the landmarks and a skip link.
  EXPECT_EQ(report.Count("html"), 1u);
  EXPECT_EQ(report.Count("main"), 1u);
  EXPECT_EQ(report.Count("header"), 1u);
  EXPECT_EQ(report.Count("footer"), 1u);
  EXPECT_GE(report.Count("nav"), 1u);
  EXPECT_EQ(report.Count("h1"), 1u);
  EXPECT_NE(page.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(page.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(page.find("name=\"viewport\""), std::string::npos);
  EXPECT_NE(page.find("href=\"#main\""), std::string::npos);
  // Headings never skip a level on the way down (h1 then h3 would).
  int level = 0;
  for (const webtest::Element& e : report.elements) {
    if (e.name.size() == 2 && e.name[0] == 'h' && e.name[1] >= '1' && e.name[1] <= '6') {
      const int next = e.name[1] - '0';
      EXPECT_LE(next, level + 1) << "heading <" << e.name << "> after h" << level;
      level = next;
    }
  }
  return report;
}

// A well-formedness check by a real XML parser too, when one is installed.
void CheckWithXmllint(const std::string& document) {
  if (!std::filesystem::exists("/usr/bin/xmllint")) return;
  const std::string path = mftest::MakeTempDir("views_test") + "/feed.xml";
  std::ofstream(path, std::ios::binary) << document;
  const std::string command = "/usr/bin/xmllint --noout '" + path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  EXPECT_EQ(pclose(pipe), 0) << output;
}

size_t Position(const std::string& haystack, const std::string& needle) {
  const size_t at = haystack.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return at;
}

// --- AuthorLabel and cursors ---

TEST(AuthorLabelTest, NameOrMaskedAddressNeverTheAddress) {
  EXPECT_EQ(AuthorLabel({"Jo Smith", "jo.smith@example.com"}, AuthorDisplay::kName), "Jo Smith");
  EXPECT_EQ(AuthorLabel({"", "john@example.com"}, AuthorDisplay::kName), "jo\xE2\x80\xA6@example.com");
  EXPECT_EQ(AuthorLabel({"  ", "john@example.com"}, AuthorDisplay::kName), "jo\xE2\x80\xA6@example.com");
  EXPECT_EQ(AuthorLabel({"Jo Smith", "john@example.com"}, AuthorDisplay::kMasked),
            "jo\xE2\x80\xA6@example.com");
  EXPECT_EQ(AuthorLabel({"", "ab@x.org"}, AuthorDisplay::kName), "a\xE2\x80\xA6@x.org");
  EXPECT_EQ(AuthorLabel({"", "a@x.org"}, AuthorDisplay::kName), "a\xE2\x80\xA6@x.org");
  EXPECT_EQ(AuthorLabel({"", "abc@x.org"}, AuthorDisplay::kName), "ab\xE2\x80\xA6@x.org");
  EXPECT_EQ(AuthorLabel({"", "jörg@x.de"}, AuthorDisplay::kName), "jö\xE2\x80\xA6@x.de");
  // A display name that is (or holds) an address is masked like one.
  EXPECT_EQ(AuthorLabel({"john@example.com", "john@example.com"}, AuthorDisplay::kName),
            "jo\xE2\x80\xA6@example.com");
  EXPECT_EQ(AuthorLabel({"John (john@example.com)", "john@example.com"}, AuthorDisplay::kName),
            "jo\xE2\x80\xA6@example.com");
  EXPECT_EQ(AuthorLabel({"", ""}, AuthorDisplay::kName), "Anonymous");
}

TEST(CursorTest, RoundTrips) {
  const forum::ThreadCursor cursor{forum::Timestamp(std::chrono::microseconds(1'700'000'000'123'456)), 987};
  const std::string text = EncodeCursor(cursor);
  EXPECT_EQ(text, "1700000000123456.987");
  const auto back = DecodeCursor(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->last_post_at, cursor.last_post_at);
  EXPECT_EQ(back->id, cursor.id);
}

TEST(CursorTest, RejectsMalformed) {
  for (const char* bad :
       {"", ".", "1.", ".1", "abc.1", "1.abc", "1.2.3", "1.-2", "1.+2", " 1.2", "1.2 ", "1,2",
        "99999999999999999999.1", "9000000000000000001.1", "1.99999999999999999999"}) {
    EXPECT_FALSE(DecodeCursor(bad).has_value()) << bad;
  }
}

// --- HTML pages ---

TEST(RenderThreadTest, HostileThreadRendersAsInertText) {
  const forum::ThreadView thread = HostileThread();
  const std::string page = RenderThread(Site(), thread);
  const MarkupReport report = CheckPage(page);
  // The hostile text is there, as text: visible to the reader, inert.
  EXPECT_NE(report.text.find("<script>alert('xss')</script>"), std::string::npos);
  EXPECT_NE(report.text.find("onerror=alert(1)>"), std::string::npos);
  EXPECT_NE(report.text.find("nulbyte"), std::string::npos);
  EXPECT_NE(report.text.find("bad\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(report.text.find("invoicegpj.exe"), std::string::npos);  // the override is gone
  EXPECT_NE(report.text.find("]]></content></entry>"), std::string::npos);
}

TEST(RenderThreadTest, QuestionThenAcceptedAnswerThenOtherPostsInOrder) {
  const std::string page = RenderThread(Site(), HostileThread());
  const MarkupReport report = CheckPage(page);
  const size_t question = Position(report.text, "QUESTION-TEXT");
  const size_t accepted_heading = Position(report.text, "Accepted answer");
  const size_t accepted = Position(report.text, "ACCEPTED-TEXT");
  const size_t first = Position(report.text, "FIRST-REPLY");
  const size_t last = Position(report.text, "LAST-REPLY");
  EXPECT_LT(question, accepted_heading);
  EXPECT_LT(accepted_heading, accepted);
  EXPECT_LT(accepted, first);
  EXPECT_LT(first, last);
  // Each post once: the accepted answer is not repeated among the others.
  EXPECT_EQ(report.text.find("ACCEPTED-TEXT", accepted + 1), std::string::npos);
  EXPECT_EQ(report.Count("article"), 1u + 4u);  // the thread and its posts
}

TEST(RenderThreadTest, ElidedTextIsFoldedNotLost) {
  const MarkupReport report = CheckPage(RenderThread(Site(), HostileThread()));
  EXPECT_EQ(report.Count("details"), 1u);
  EXPECT_EQ(report.Count("summary"), 1u);
  EXPECT_NE(report.text.find("Show quoted text"), std::string::npos);
  EXPECT_NE(report.text.find("ELIDED-TEXT > quoted <script>"), std::string::npos);
}

TEST(RenderThreadTest, AttachmentsAreListedAndLinked) {
  const MarkupReport report = CheckPage(RenderThread(Site(), HostileThread()));
  const std::vector<std::string> hrefs = report.AttributeValues("href");
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/t/42/attachments/100/0"), 1);
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/t/42/attachments/100/1"), 1);
  EXPECT_NE(report.text.find("123 kB"), std::string::npos);
  EXPECT_NE(report.text.find("10 bytes"), std::string::npos);
  EXPECT_NE(report.text.find("text/html\"><script>"), std::string::npos);  // the declared type, as text
  EXPECT_NE(report.text.find("attachment 2"), std::string::npos);          // a name for the nameless
}

TEST(RenderThreadTest, OnlyWebUrlsInTextBecomeLinks) {
  const MarkupReport report = CheckPage(RenderThread(Site(), HostileThread()));
  std::set<std::string> outside;
  for (const webtest::Element& e : report.elements) {
    if (e.name != "a") continue;
    std::string href, rel;
    for (const auto& [name, value] : e.attributes) {
      if (name == "href") href = value;
      if (name == "rel") rel = value;
    }
    if (href.substr(0, 4) == "http") {
      EXPECT_EQ(rel, "nofollow ugc noopener") << href;
      outside.insert(href);
    }
  }
  // https://ok.example/a?b=1&c= stops at '<'; the quote ends the second; the
  // CSS in kHostile is text, and the URL inside it a link without its ")".
  EXPECT_EQ(outside,
            (std::set<std::string>{"https://ok.example/a?b=1&c=", "http://evil", "https://evil.example/x"}));
  EXPECT_NE(report.text.find("javascript:alert(3)"), std::string::npos);
  EXPECT_NE(report.text.find("data:text/html,<script>alert(4)</script>"), std::string::npos);
  EXPECT_NE(report.text.find("vbscript:msgbox(6)"), std::string::npos);
}

TEST(RenderThreadTest, BodyKeepsLineBreaks) {
  forum::ThreadView thread = HostileThread();
  thread.posts[0].body = "line one\r\nline two\n\n  indented";
  const MarkupReport report = CheckPage(RenderThread(Site(), thread));
  EXPECT_NE(report.text.find("line oneline two  indented"), std::string::npos);
  EXPECT_EQ(report.Count("br"), 3u);
}

TEST(RenderThreadTest, AnswerByEmailLink) {
  const MarkupReport report = CheckPage(RenderThread(Site(), HostileThread()));
  std::vector<std::string> mailtos;
  for (const std::string& href : report.AttributeValues("href")) {
    if (href.substr(0, 7) == "mailto:") mailtos.push_back(href);
  }
  ASSERT_EQ(mailtos.size(), 1u);
  EXPECT_EQ(mailtos[0].substr(0, 41), "mailto:help+tok3n@forum.example?subject=R");
  EXPECT_NE(mailtos[0].find("?subject=Re%3A%20Printer%20%3Cscript%3E"), std::string::npos) << mailtos[0];
  EXPECT_NE(report.text.find("help+tok3n@forum.example"), std::string::npos);
  EXPECT_NE(report.text.find("#resolved"), std::string::npos);
  EXPECT_NE(report.text.find("DMARC"), std::string::npos);
}

TEST(RenderThreadTest, NoReplyAddressYet) {
  forum::ThreadView thread = HostileThread();
  thread.reply_address.clear();
  const std::string page = RenderThread(Site(), thread);
  const MarkupReport report = CheckPage(page);
  EXPECT_EQ(page.find("mailto:"), std::string::npos);
  EXPECT_NE(report.text.find("not yet open"), std::string::npos);
}

TEST(RenderThreadTest, HugeSubjectIsWholeOnTheThreadPageAndCutInTheTitle) {
  forum::ThreadView thread = HostileThread();
  thread.thread.subject = std::string(200 * 1024, 'W');
  const std::string page = RenderThread(Site(), thread);
  const MarkupReport report = CheckPage(page);
  EXPECT_NE(report.text.find(thread.thread.subject), std::string::npos);
  const size_t title = page.find("<title>");
  const size_t title_end = page.find("</title>");
  EXPECT_LT(title_end - title, 1000u);
  // The mailto subject is cut too: the address routes the reply.
  for (const std::string& href : report.AttributeValues("href")) EXPECT_LT(href.size(), 2000u);
}

TEST(RenderThreadListTest, HostileListPage) {
  forum::ThreadListPage list;
  list.threads = {HostileItem(1), HostileItem(2)};
  list.threads[1].status = "resolved";
  list.threads[1].subject = std::string(200 * 1024, 'x') + kScript;
  list.next = forum::ThreadCursor{At(1'700'000'000), 2};
  ListContext context;
  context.categories = {forum::CategoryView{"it\"><script>", "IT " + kScript, "d", 3},
                        forum::CategoryView{"hr",
                                            "\xE2\x80\xAE"
                                            "HR",
                                            "", 1}};
  context.status = "open";
  const std::string page = RenderThreadList(Site(), context, list);
  const MarkupReport report = CheckPage(page);
  EXPECT_LT(page.size(), 30'000u);  // the 200 KB subject is cut in the list
  EXPECT_NE(report.text.find("Open"), std::string::npos);
  EXPECT_NE(report.text.find("Resolved"), std::string::npos);
  EXPECT_NE(report.text.find("3 replies"), std::string::npos);
  const std::vector<std::string> hrefs = report.AttributeValues("href");
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/t/1"), 1);
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/c/it%22%3E%3Cscript%3E"), 3);  // nav and two items
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/?status=open&after=" + EncodeCursor(*list.next)), 1);
  const std::vector<std::string> times = report.AttributeValues("datetime");
  EXPECT_EQ(std::count(times.begin(), times.end(), "2023-11-14T23:13:20Z"), 2);  // last activity
}

TEST(RenderThreadListTest, CategoryPageShowsItsDescription) {
  ListContext context;
  context.category = forum::CategoryView{"it", "IT", "Printers, laptops " + kScript, 1};
  context.categories = {*context.category};
  forum::ThreadListPage list;
  const std::string page = RenderThreadList(Site(), context, list);
  const MarkupReport report = CheckPage(page);
  EXPECT_NE(report.text.find("Printers, laptops <script>"), std::string::npos);
  EXPECT_NE(page.find("href=\"/c/it/feed.atom\""), std::string::npos);
  EXPECT_NE(page.find("<a href=\"/c/it\" aria-current=\"page\">"), std::string::npos);
}

TEST(RenderSearchTest, FormIsLabelledAndKeepsItsValues) {
  SearchForm form;
  form.text = "\"><script>alert(1)</script>";
  form.category_slug = "hr";
  form.status = "answered";
  const std::vector<forum::CategoryView> categories = {{"it", "IT", "", 1}, {"hr", "HR", "", 1}};
  const std::string page = RenderSearch(Site(), form, categories, nullptr);
  const MarkupReport report = CheckPage(page);
  std::set<std::string> labelled;
  for (const std::string& f : report.AttributeValues("for")) labelled.insert(f);
  EXPECT_EQ(labelled, (std::set<std::string>{"q", "category", "status"}));
  const std::vector<std::string> values = report.AttributeValues("value");
  EXPECT_NE(std::find(values.begin(), values.end(), form.text), values.end());
  EXPECT_NE(page.find("<option value=\"hr\" selected>"), std::string::npos);
  EXPECT_NE(page.find("<option value=\"answered\" selected>"), std::string::npos);
  EXPECT_EQ(report.Count("ol"), 0u);  // no results without a query
}

TEST(RenderSearchTest, SnippetsAreEscapedThenMarked) {
  forum::SearchResults results;
  results.more = true;
  forum::SearchHit hit;
  hit.thread = HostileItem(7);
  hit.snippet = std::string("before ") + forum::kMatchBegin + "printer" + forum::kMatchEnd + " <b>" +
                kScript + forum::kMatchEnd + " stray end " + forum::kMatchBegin + "open " +
                forum::kMatchBegin + "twice" + forum::kMatchEnd + " tail " + forum::kMatchBegin + "unclosed";
  results.hits = {hit};
  SearchForm form;
  form.text = "printer";
  form.page = 2;
  const std::string page = RenderSearch(Site(), form, {}, &results);
  const MarkupReport report = CheckPage(page);
  EXPECT_EQ(report.Count("mark"), 4u);
  EXPECT_NE(
      report.text.find("before printer <b><script>alert('xss')</script> stray end open twice tail unclosed"),
      std::string::npos);
  const std::vector<std::string> hrefs = report.AttributeValues("href");
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/search?q=printer"), 1);         // previous page
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "/search?q=printer&page=3"), 1);  // next page
}

TEST(RenderSearchTest, NoResults) {
  forum::SearchResults results;
  SearchForm form;
  form.text = "nothing";
  const MarkupReport report = CheckPage(RenderSearch(Site(), form, {}, &results));
  EXPECT_NE(report.text.find("No threads match"), std::string::npos);
}

TEST(RenderErrorTest, MessageIsText) {
  const std::string page = RenderError(Site(), 404, "No thread " + kHostile);
  const MarkupReport report = CheckPage(page);
  EXPECT_NE(report.text.find("404 Not found"), std::string::npos);
  EXPECT_NE(report.text.find("No thread <script>"), std::string::npos);
}

// --- Atom ---

MarkupReport CheckFeed(const std::string& feed) {
  const MarkupReport report = CheckMarkup(feed, MarkupKind::kXml);
  EXPECT_TRUE(report.ok()) << report.error;
  EXPECT_FALSE(report.elements.empty());
  if (!report.elements.empty()) {
    EXPECT_EQ(report.elements[0].name, "feed");
  }
  EXPECT_EQ(feed.find(kSecretLocal), std::string::npos) << "a poster's address leaked";
  EXPECT_EQ(report.Count("id"), report.Count("entry") + 1);
  EXPECT_EQ(report.Count("updated"), report.Count("entry") + 1);
  EXPECT_EQ(report.Count("title"), report.Count("entry") + 1);
  for (const std::string& href : report.AttributeValues("href")) {
    EXPECT_EQ(href.substr(0, 25), "https://help.example.com/") << href;
  }
  CheckWithXmllint(feed);
  return report;
}

TEST(AtomTest, ThreadsFeedIsWellFormedAndInert) {
  const forum::CategoryView category{"it\"><script>", "IT " + kScript, "About " + kXmlBreak, 2};
  const std::string feed = RenderThreadsFeed(Site(), category, {HostileItem(1), HostileItem(2)});
  const MarkupReport report = CheckFeed(feed);
  EXPECT_EQ(report.Count("entry"), 2u);
  EXPECT_NE(report.text.find("https://help.example.com/t/1"), std::string::npos);
  EXPECT_NE(report.text.find(kScript), std::string::npos);
  EXPECT_NE(report.text.find("About ]]></content></entry>"), std::string::npos);
}

TEST(AtomTest, EmptyFeedIsValid) { CheckFeed(RenderThreadsFeed(Site(), std::nullopt, {})); }

TEST(AtomTest, ThreadFeedHasEveryPost) {
  const std::string feed = RenderThreadFeed(Site(), HostileThread());
  const MarkupReport report = CheckFeed(feed);
  EXPECT_EQ(report.Count("entry"), 4u);
  EXPECT_NE(report.text.find("https://help.example.com/t/42#post-102"), std::string::npos);
  EXPECT_NE(report.text.find("Accepted answer: Printer"), std::string::npos);
  const std::vector<std::string> hrefs = report.AttributeValues("href");
  EXPECT_EQ(std::count(hrefs.begin(), hrefs.end(), "https://help.example.com/t/42/attachments/100/0"), 1);
}

// --- JSON ---

nlohmann::json ParseJson(const std::string& text) {
  EXPECT_EQ(text.find(kSecretLocal), std::string::npos) << "a poster's address leaked";
  EXPECT_EQ(text.find('\0'), std::string::npos);
  nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(document.is_discarded()) << text.substr(0, 500);
  return document;
}

TEST(JsonTest, ThreadListParsesBack) {
  forum::ThreadListPage list;
  list.threads = {HostileItem(1)};
  list.next = forum::ThreadCursor{At(5), 1};
  const nlohmann::json doc = ParseJson(RenderThreadListJson(Site(), list));
  ASSERT_EQ(doc["threads"].size(), 1u);
  const nlohmann::json& t = doc["threads"][0];
  EXPECT_EQ(t["id"], 1);
  EXPECT_EQ(t["url"], "https://help.example.com/t/1");
  EXPECT_EQ(t["status"], "open");
  EXPECT_EQ(t["reply_count"], 3);
  EXPECT_EQ(t["author"]["name"], "Mallory " + kScript);
  EXPECT_EQ(t["author"].size(), 1u);  // a name and nothing else
  EXPECT_EQ(t["last_post_at"], "2023-11-14T23:13:20Z");
  EXPECT_EQ(t["subject"].get<std::string>().find("invoicegpj.exe"),
            t["subject"].get<std::string>().find("invoice"));
  EXPECT_EQ(doc["next"], EncodeCursor(*list.next));
  list.next.reset();
  EXPECT_TRUE(ParseJson(RenderThreadListJson(Site(), list))["next"].is_null());
}

TEST(JsonTest, ThreadParsesBackWithoutAddresses) {
  const nlohmann::json doc = ParseJson(RenderThreadJson(Site(), HostileThread()));
  EXPECT_EQ(doc["accepted_post_id"], 102);
  EXPECT_EQ(doc["reply_address"], "help+tok3n@forum.example");
  ASSERT_EQ(doc["posts"].size(), 4u);
  EXPECT_EQ(doc["posts"][0]["author"]["name"], "vi\xE2\x80\xA6@secret-domain.example");
  EXPECT_EQ(doc["posts"][1]["author"]["name"], "vi\xE2\x80\xA6@secret-domain.example");
  EXPECT_EQ(doc["posts"][3]["author"]["name"], "Eve");
  EXPECT_EQ(doc["posts"][3]["parent_post_id"], 102);
  EXPECT_TRUE(doc["posts"][0]["parent_post_id"].is_null());
  EXPECT_TRUE(doc["posts"][2]["accepted"].get<bool>());
  EXPECT_NE(doc["posts"][0]["body"].get<std::string>().find(kScript), std::string::npos);
  EXPECT_NE(doc["posts"][0]["body"].get<std::string>().find("bad\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(doc["posts"][0]["elided"].get<std::string>().find("ELIDED-TEXT"), std::string::npos);
  const nlohmann::json& a = doc["posts"][0]["attachments"][0];
  EXPECT_EQ(a["url"], "https://help.example.com/t/42/attachments/100/0");
  EXPECT_EQ(a["size"], 123456);
  EXPECT_EQ(a["position"], 0);
}

TEST(JsonTest, SearchHitsCarryPlainSnippetsAndHighlights) {
  forum::SearchResults results;
  forum::SearchHit hit;
  hit.thread = HostileItem(9);
  hit.rank = 0.5;
  hit.snippet = std::string("Grüße ") + forum::kMatchBegin + "Drücker" + forum::kMatchEnd + " <b> " +
                forum::kMatchBegin + "x\xFF";
  results.hits = {hit};
  const nlohmann::json doc = ParseJson(RenderSearchJson(Site(), results));
  ASSERT_EQ(doc["hits"].size(), 1u);
  EXPECT_EQ(doc["hits"][0]["snippet"], "Grüße Drücker <b> x\xEF\xBF\xBD");
  const nlohmann::json& h = doc["hits"][0]["highlights"];
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0]["start"], 6);  // code points, not bytes
  EXPECT_EQ(h[0]["length"], 7);
  EXPECT_EQ(h[1]["start"], 18);
  EXPECT_EQ(h[1]["length"], 2);
  EXPECT_EQ(doc["more"], false);
}

// Random mixes of hostile pieces and random bytes in every field: each
// surface must stay well-formed and inert. Seeded, so a failure repeats.
TEST(RandomInputTest, EverySurfaceStaysWellFormed) {
  std::mt19937 random(20261204);
  const std::vector<std::string> pieces = {
      kScript,       kImg,   kAttr,  kNul,  kBadUtf8, kRlo,           kXmlBreak, kCss,      "&",
      "&amp;",       "<",    ">",    "\"",  "'",      "\n",           "\r",      "http://", "https://",
      "javascript:", "\x02", "\x03", "]]>", "<!--",   "\xEF\xBF\xBE", "a",       " "};
  auto random_string = [&]() {
    std::string out;
    const int n = static_cast<int>(random() % 12);
    for (int i = 0; i < n; ++i) {
      if (random() % 3 == 0) {
        out.push_back(static_cast<char>(random() % 256));
      } else {
        out += pieces[random() % pieces.size()];
      }
    }
    return out;
  };
  auto random_item = [&](int64_t id) {
    forum::ThreadListItem t;
    t.id = id;
    t.subject = random_string();
    t.status = random() % 2 ? std::string("open") : random_string();
    t.category_slug = random_string();
    t.category_name = random_string();
    t.tags = {random_string(), random_string()};
    t.author = forum::Author{random_string(), random_string() + "@" + random_string()};
    return t;
  };
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    forum::ThreadView thread;
    thread.thread = random_item(round);
    thread.category_description = random_string();
    thread.reply_address = random_string() + "@" + random_string();
    for (int64_t p = 0; p < 3; ++p) {
      forum::PostView post = Post(p, random_string() + random_string(), {random_string(), random_string()});
      post.elided = random_string();
      post.attachments = {forum::AttachmentInfo{0, random_string(), random_string(), 5}};
      thread.posts.push_back(std::move(post));
    }
    thread.accepted_post_id = 1;
    SiteInfo site{random_string(), "https://help.example.com", AuthorDisplay::kName};
    forum::ThreadListPage list;
    list.threads = {thread.thread, random_item(1000 + round)};
    ListContext context;
    context.categories = {forum::CategoryView{random_string(), random_string(), random_string(), 1}};
    if (round % 2) context.category = context.categories[0];
    forum::SearchResults results;
    results.hits = {forum::SearchHit{random_item(7), 1.0, random_string() + random_string()}};
    SearchForm form;
    form.text = random_string();
    form.category_slug = random_string();

    for (const std::string& page :
         {RenderThread(site, thread), RenderThreadList(site, context, list),
          RenderSearch(site, form, context.categories, &results), RenderError(site, 404, random_string())}) {
      const MarkupReport report = CheckMarkup(page, MarkupKind::kHtml);
      ASSERT_TRUE(report.ok()) << report.error;
      for (const webtest::Element& e : report.elements) ASSERT_EQ(kHtmlElements.count(e.name), 1u) << e.name;
      for (const std::string& href : report.AttributeValues("href")) ASSERT_TRUE(IsSafeHref(href)) << href;
    }
    for (const std::string& feed :
         {RenderThreadFeed(site, thread), RenderThreadsFeed(site, std::nullopt, list.threads)}) {
      const MarkupReport report = CheckMarkup(feed, MarkupKind::kXml);
      ASSERT_TRUE(report.ok()) << report.error;
    }
    for (const std::string& json : {RenderThreadJson(site, thread), RenderThreadListJson(site, list),
                                    RenderSearchJson(site, results)}) {
      ASSERT_FALSE(nlohmann::json::parse(json, nullptr, false).is_discarded()) << json;
    }
  }
}

TEST(StylesheetTest, SelfContained) {
  const std::string_view css = Stylesheet();
  EXPECT_NE(css.find("overflow-wrap: anywhere"), std::string_view::npos);
  EXPECT_NE(css.find("pre-wrap"), std::string_view::npos);
  EXPECT_EQ(css.find("url("), std::string_view::npos);
  EXPECT_EQ(css.find("@import"), std::string_view::npos);
  EXPECT_EQ(css.find("@font-face"), std::string_view::npos);
}

}  // namespace
}  // namespace web
