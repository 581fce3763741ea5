#include "mail/html_to_text.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "mail/charset.h"

namespace mail {
namespace {

TEST(HtmlToTextTest, ParagraphsDivsAndBreaks) {
  EXPECT_EQ(HtmlToText("<p>One</p><p>Two<br>lines</p>"), "One\n\nTwo\nlines");
  // Gmail writes a <div> per line; browsers give divs no margin.
  EXPECT_EQ(HtmlToText("<div>Hi.</div><div><br></div><div>Thanks,</div><div>Alex</div>"),
            "Hi.\n\nThanks,\nAlex");
  EXPECT_EQ(HtmlToText("a<br><br><br><br><br>b"), "a\n\nb");
}

TEST(HtmlToTextTest, WhitespaceCollapsesAsInABrowser) {
  EXPECT_EQ(HtmlToText("  Hello \n\t  <b> big </b>\n world  "), "Hello big world");
  EXPECT_EQ(HtmlToText("a&nbsp;&nbsp;b"), "a  b");
  EXPECT_EQ(HtmlToText("<pre>  x = 1\n  y = 2</pre>"), "  x = 1\n  y = 2");
}

TEST(HtmlToTextTest, EntitiesAreDecoded) {
  EXPECT_EQ(HtmlToText("Fish &amp; chips &lt;3 &eacute;t&eacute; &#8364;5 &#x1F600;"),
            "Fish & chips <3 été €5 😀");
}

TEST(HtmlToTextTest, Lists) {
  EXPECT_EQ(
      HtmlToText("<p>Steps:</p><ol><li>Open</li><li>Close<ul><li>gently</li><li>slowly</li></ul></li></ol>"
                 "<p>Done</p>"),
      "Steps:\n\n1. Open\n2. Close\n   - gently\n   - slowly\n\nDone");
  EXPECT_EQ(HtmlToText("<ol start=\"3\"><li>c</li><li>d<br>more</li></ol>"), "3. c\n4. d\n   more");
}

TEST(HtmlToTextTest, Blockquotes) {
  EXPECT_EQ(HtmlToText("<p>Reply</p><blockquote><p>Quoted</p><blockquote>Deeper</blockquote></blockquote>"),
            "Reply\n\n> Quoted\n>\n> > Deeper");
}

TEST(HtmlToTextTest, Links) {
  EXPECT_EQ(HtmlToText("<a href=\"https://example.com/docs\">the docs</a>"),
            "the docs (https://example.com/docs)");
  EXPECT_EQ(HtmlToText("<a href=\"https://example.com/\">https://example.com</a>"), "https://example.com");
  EXPECT_EQ(HtmlToText("<a href=\"mailto:jo@example.com\">jo@example.com</a>"), "jo@example.com");
  EXPECT_EQ(HtmlToText("<a href=\"mailto:jo@example.com\">Jo</a>"), "Jo (jo@example.com)");
  EXPECT_EQ(HtmlToText("<a href=\"#top\">Top</a> <a href=\"javascript:x()\">Run</a>"), "Top Run");
}

TEST(HtmlToTextTest, Tables) {
  EXPECT_EQ(HtmlToText("<table><tr><th>Name</th><th>Qty</th></tr><tr><td>Apple</td><td>3</td></tr>"
                       "<tr><td></td><td></td></tr></table>"),
            "Name | Qty\nApple | 3");
  // A layout table with a multi-line cell is written cell after cell.
  EXPECT_EQ(HtmlToText("<table><tr><td><p>Para one</p><p>Para two</p></td><td>Side</td></tr></table>"),
            "Para one\n\nPara two\nSide");
}

TEST(HtmlToTextTest, Headings) {
  EXPECT_EQ(HtmlToText("<h1>Title</h1>Text<h2>Sub</h2>More"), "Title\n\nText\n\nSub\n\nMore");
}

TEST(HtmlToTextTest, NonTextAndHiddenElementsAreDropped) {
  EXPECT_EQ(HtmlToText("<html><head><title>T</title><style>p{color:red}</style></head>"
                       "<body><script>alert(1)</script><p>Visible</p>"
                       "<div style=\"display: none\">hidden1</div><span hidden>hidden2</span>"
                       "<div style=\"mso-hide:all\">hidden3</div><p style=\"visibility:hidden\">hidden4</p>"
                       "<img src=\"x.png\" alt=\"pic\"><!-- comment --></body></html>"),
            "Visible");
}

TEST(HtmlToTextTest, HorizontalRule) {
  EXPECT_EQ(HtmlToText("above<hr>below"), "above\n________________________________\nbelow");
}

TEST(HtmlToTextTest, OutlookParagraphsHaveNoMargin) {
  EXPECT_EQ(HtmlToText("<p class=MsoNormal>Hi,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
                       "<p class=MsoNormal>Thanks,</p><p class=MsoNormal>Alex</p>"),
            "Hi,\n\nThanks,\nAlex");
}

TEST(HtmlToTextTest, GmailQuote) {
  const std::string html =
      "<div dir=\"ltr\">Sounds good.</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">"
      "On Mon, Jan 1, 2024 at 10:00 AM Bob &lt;<a href=\"mailto:bob@example.com\">bob@example.com</a>&gt; "
      "wrote:"
      "<br></div><blockquote class=\"gmail_quote\"><div>Lunch?</div></blockquote></div>";
  EXPECT_EQ(HtmlToText(html),
            "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Lunch?");
  const HtmlToTextResult split = HtmlToTextSplit(html);
  EXPECT_EQ(split.reply, "Sounds good.");
  EXPECT_EQ(split.quoted, "On Mon, Jan 1, 2024 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Lunch?");
}

TEST(HtmlToTextTest, OutlookReplyHeaderQuotesTheRest) {
  const std::string html =
      "<div>Done.</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Bob<br>"
      "<b>Sent:</b> Monday<br><b>Subject:</b> Task</div><div>Can you do it?</div><p>Thanks</p>";
  EXPECT_EQ(
      HtmlToText(html),
      "Done.\n________________________________\nFrom: Bob\nSent: Monday\nSubject: Task\n> Can you do it?\n>\n"
      "> Thanks");
  EXPECT_EQ(HtmlToTextSplit(html).reply, "Done.");
}

TEST(HtmlToTextTest, ThunderbirdAppleAndYahooQuotes) {
  const HtmlToTextResult tb = HtmlToTextSplit(
      "Fine.<br><div class=\"moz-cite-prefix\">On 1/1/24 Bob wrote:<br></div>"
      "<blockquote type=\"cite\">How are you?</blockquote>");
  EXPECT_EQ(tb.reply, "Fine.");
  EXPECT_EQ(tb.quoted, "On 1/1/24 Bob wrote:\n\n> How are you?");

  const HtmlToTextResult apple = HtmlToTextSplit(
      "<div>Yes</div><div><br><blockquote type=\"cite\"><div>On 1 Jan 2024, at 10:00, Bob wrote:</div>"
      "<div>Ok?</div></blockquote></div>");
  EXPECT_EQ(apple.reply, "Yes");
  EXPECT_EQ(apple.quoted, "> On 1 Jan 2024, at 10:00, Bob wrote:\n> Ok?");

  const HtmlToTextResult yahoo = HtmlToTextSplit(
      "<div>Sure</div><div class=\"yahoo_quoted\"><div>On Monday, Bob wrote:</div><div>Coffee?</div></div>");
  EXPECT_EQ(yahoo.reply, "Sure");
  EXPECT_EQ(yahoo.quoted, "> On Monday, Bob wrote:\n> Coffee?");
}

TEST(HtmlToTextTest, PlainBlockquoteIsQuotedButDoesNotSplit) {
  const HtmlToTextResult r = HtmlToTextSplit("<p>I said</p><blockquote>this</blockquote><p>and more</p>");
  EXPECT_EQ(r.reply, "I said\n\n> this\n\nand more");
  EXPECT_EQ(r.quoted, "");
}

TEST(HtmlToTextTest, NotHtmlAndBrokenInput) {
  EXPECT_EQ(HtmlToText("plain text, no tags"), "plain text, no tags");
  EXPECT_EQ(HtmlToText(""), "");
  EXPECT_EQ(HtmlToText("<p>unclosed <b>bold <i>italic"), "unclosed bold italic");
  const std::string garbage = HtmlToText("<p>bad \xFF\xFE bytes \0 here</p>");
  EXPECT_TRUE(IsValidUtf8(garbage));
  EXPECT_EQ(garbage.find('\0'), std::string::npos);
}

TEST(HtmlToTextTest, DeepNestingStaysFast) {
  // Gumbo alone takes seconds on 10,000 nested elements and minutes on 100,000.
  for (const char* tag : {"div", "b", "table", "blockquote"}) {
    std::string html;
    for (int i = 0; i < 100000; ++i) html += std::string("<") + tag + ">";
    html += "deep text";
    const auto start = std::chrono::steady_clock::now();
    const std::string text = HtmlToText(html);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_NE(text.find("deep text"), std::string::npos) << tag;
    EXPECT_LT(seconds, 5.0) << tag;
  }
}

}  // namespace
}  // namespace mail
