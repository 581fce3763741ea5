#include "mail/html_to_text.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

// --- hostile HTML: the tree Gumbo builds stays shallow and small, the text bounded ---
//
// Gumbo's time grows with the depth of its tree and with its list of active
// formatting elements (clones made at every block), so each hostile shape is
// checked for the depth and the node count of the tree, which is what made
// it quadratic, rather than for time; and for its text, which must all be there.

// The pre-filter lets 128 elements be open; Gumbo adds at most one implied
// element (tbody, tr) per element it was given, plus document, html and body.
constexpr size_t kMaxTreeDepth = 2 * 128 + 3;

std::string Repeat(std::string_view unit, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += unit;
  return s;
}

size_t Count(std::string_view text, std::string_view word) {
  size_t n = 0;
  for (size_t i = text.find(word); i != std::string::npos; i = text.find(word, i + word.size())) ++n;
  return n;
}

struct HostileShape {
  const char* name;
  std::string html;
  int words;               // times "word" is in the text
  bool amplifies = false;  // its text (indentation, quote prefixes) is longer than the HTML: cut
};

std::vector<HostileShape> HostileShapes() {
  constexpr int n = 3000;
  std::string reopened;
  for (int i = 0; i < n; ++i) {
    reopened += "<p><font color=\"#" + std::to_string(100000 + i) + "\" style=\"color:red\"><b class=\"c" +
                std::to_string(i) + "\" id=\"x\"><i style=\"x:" + std::to_string(i) + "\">word ";
  }
  std::string links;
  for (int i = 0; i < n; ++i) links += "<a href=\"https://example.com/" + std::to_string(i) + "\"><div>word ";
  return {
      {"mis-nested inline and block", Repeat("<b><p><i><div><font>word ", n), n},
      {"end tags in the wrong order", Repeat("<b><div><i><p>word</b></div></i></p>", n), n},
      {"blocks closed over inline elements", Repeat("<div><b><i><p>word</div>", n), n},
      {"formatting elements reopened with distinct attributes", reopened, n},
      {"links left open in blocks", links, n},
      {"deep tables", Repeat("<table><tr><td>word ", n), n},
      {"deep tables without rows", Repeat("<table><td>word ", n), n},
      // Items beyond the depth limit are dropped with what they would close: their text stays on the
      // deepest item's line (it used to be an item per line, each indented 254 spaces).
      {"deep lists", Repeat("<ul><li>word ", n), n},
      {"deep quotes with short lines", Repeat("<blockquote>", 120) + Repeat("word<br>", n), n,
       /*amplifies=*/true},
      {"deep divs", Repeat("<div>word ", n), n},
      {"self-closed divs (the slash means nothing in HTML)", Repeat("<div/>word ", n), n},
      {"deep blockquotes", Repeat("<blockquote>word ", n), n},
      {"nested buttons, headings, paragraphs", Repeat("<button><h1><p><h2><dl><dt><dd>word ", n), n},
      // Tokenizer tricks: quotes, comments and raw text that a naive filter reads otherwise than Gumbo.
      {"a quote in an attribute name hides nothing", "<b x'>" + Repeat("<div>word ", n) + "'>", n},
      {"an abrupt comment hides nothing", "<!-->" + Repeat("<div>word ", n) + "-->", n},
      {"void elements in SVG and MathML", "<svg><math>" + Repeat("<input><p>word<image><col>", n), n},
      {"self-closed tags after leaving SVG", "<svg><p>" + Repeat("<div/><span/>word ", n), n},
      {"raw text elements in a select", "<select>" + Repeat("<xmp><title><iframe><div>word ", n), 0},
  };
}

TEST(HtmlToTextTest, HostileShapesBuildAShallowSmallTree) {
  for (const HostileShape& shape : HostileShapes()) {
    const internal::HtmlTreeShape tree = internal::ParsedTreeShape(shape.html);
    EXPECT_LE(tree.depth, kMaxTreeDepth) << shape.name;
    // Linear: a few nodes per tag at most (a quadratic tree has millions here).
    EXPECT_LE(tree.nodes, shape.html.size() / 2) << shape.name;
    const HtmlText text = HtmlToTextChecked(shape.html);
    EXPECT_TRUE(IsValidUtf8(text.text)) << shape.name;
    EXPECT_EQ(text.truncated, shape.amplifies) << shape.name;
    EXPECT_LE(text.text.size(), shape.html.size() + (64 << 10)) << shape.name;
    const size_t words = Count(text.text, "word");
    if (shape.amplifies) {
      EXPECT_GT(words, static_cast<size_t>(shape.words) / 10) << shape.name;
    } else {
      EXPECT_EQ(words, static_cast<size_t>(shape.words)) << shape.name;
    }
  }
}

TEST(HtmlToTextTest, DeepNestingKeepsItsText) {
  // 100,000 nested elements: Gumbo alone would take minutes and free the tree recursively.
  for (const char* tag : {"div", "b", "table", "blockquote", "ul", "span", "a", "p", "li", "td"}) {
    const std::string html = Repeat(std::string("<") + tag + ">", 100000) + "deep text";
    EXPECT_LE(internal::ParsedTreeShape(html).depth, kMaxTreeDepth) << tag;
    EXPECT_NE(HtmlToText(html).find("deep text"), std::string::npos) << tag;
  }
}

TEST(HtmlToTextTest, NormalNestingIsKept) {
  // Below the limit nothing is dropped: 60 nested lists still show 60 levels of indentation.
  const std::string html = Repeat("<ul><li>x", 60);
  const std::string text = HtmlToText(html);
  EXPECT_NE(text.find("\n" + std::string(2 * 59, ' ') + "- x"), std::string::npos);
  EXPECT_EQ(Count(text, "- x"), 60u);
}

TEST(HtmlToTextTest, AttributesPerTagAreCapped) {
  std::string html = "<div";
  for (int i = 0; i < 100000; ++i) html += " a" + std::to_string(i) + "=\"1\"";
  html += " hidden>secret</div><p id=\"p\" class=\"c\">shown</p>";
  // Gumbo compares each attribute with all earlier ones: only a few reach it.
  EXPECT_LT(internal::PrefilterHtml(html).size(), 4096u);
  EXPECT_EQ(HtmlToText(html), "shown");
  // Attributes the renderer reads survive the filter.
  EXPECT_EQ(HtmlToText("<a href=\"https://x.example/\" style=\"color:red\" class=\"y\">x</a>"),
            "x (https://x.example/)");
  EXPECT_EQ(HtmlToText("<span style=\"color:red; display : NONE\">hidden</span>shown"), "shown");
  EXPECT_EQ(HtmlToText("<b hidden>hidden</b><font style=\"mso-hide:all\">hidden</font>shown"), "shown");
}

TEST(HtmlToTextTest, TextIsCappedAtACharacterBoundary) {
  // 120 nested blockquotes make every short line 240 bytes of "> " prefix.
  const std::string html = Repeat("<blockquote>", 120) + Repeat("\xC3\xA9<br>", 100000);
  const HtmlText text = HtmlToTextChecked(html);
  EXPECT_TRUE(text.truncated);
  EXPECT_LE(text.text.size(), html.size() + (64 << 10));
  EXPECT_GT(text.text.size(), html.size() / 2);
  EXPECT_TRUE(IsValidUtf8(text.text));
  EXPECT_TRUE(HtmlToTextSplit(html).truncated);
}

TEST(HtmlToTextTest, TableCellsShareTheTextLimit) {
  // Each cell's text is built apart and joined into its row: the cells of a
  // row together may not go over the limit either.
  const std::string cell = "<td>" + Repeat("<blockquote>", 60) + Repeat("x<br>", 200);
  const std::string html = "<table><tr>" + Repeat(cell, 50) + "</table>";
  const HtmlText text = HtmlToTextChecked(html);
  EXPECT_TRUE(text.truncated);
  EXPECT_LE(text.text.size(), html.size() + (64 << 10));
  EXPECT_GT(Count(text.text, "x"), 200u);
}

TEST(HtmlToTextTest, InputOverTheCapIsTruncated) {
  const std::string html = Repeat("<p>word</p>", (4 << 20) / 11 + 100);
  const HtmlText text = HtmlToTextChecked(html);
  EXPECT_TRUE(text.truncated);
  EXPECT_NE(text.text.find("word"), std::string::npos);
  EXPECT_FALSE(HtmlToTextChecked("<p>word</p>").truncated);
}

TEST(HtmlToTextTest, MarkupTheFilterDoesNotKnowStaysText) {
  EXPECT_EQ(HtmlToText("a <3 b &lt; c"), "a <3 b < c");
  EXPECT_EQ(HtmlToText("x </> y </3 z> w"), "x y w");
  EXPECT_EQ(HtmlToText("<!DOCTYPE html><?xml x?><!x>text<!-- a --><!--->more"), "textmore");
  EXPECT_EQ(HtmlToText("<textarea><b>not</b> bold</textarea>"), "<b>not</b> bold");
  EXPECT_EQ(HtmlToText("<xmp><b>&amp;</b></xmp>"), "<b>&amp;</b>");
  EXPECT_EQ(HtmlToText("<p>a<script>if (a<b) {}</script><style>p{}</style>b</p>"), "ab");
  EXPECT_EQ(HtmlToText("<plaintext><b>x</b>"), "<b>x</b>");
  EXPECT_EQ(HtmlToText("<p>cut <b class=\"x"), "cut");
}

TEST(HtmlToTextTest, LineBreaksEverywhere) {
  // <br> reaches Gumbo as a private-use character that the renderer reads as a
  // line break; the same character in the input is not one.
  EXPECT_EQ(HtmlToText("<pre>a<br>b</pre>"), "a\nb");
  EXPECT_EQ(HtmlToText("<a href=\"https://x.example/\">x<br>y</a>"), "x\ny (https://x.example/)");
  EXPECT_EQ(HtmlToText("<a href=\"https://x.example/\">x.example<br></a>"), "x.example");
  EXPECT_EQ(HtmlToText("a</br>b<br/>c<br clear=all>d"), "a\nb\nc\nd");
  EXPECT_EQ(HtmlToText("a\xF4\x8F\xBF\xBD"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(HtmlToText("<svg><br></svg>after"), "after");
}

TEST(HtmlToTextTest, MisNestedMarkupKeepsItsText) {
  // Inline elements left open are closed where their block ends.
  EXPECT_EQ(HtmlToText("<div><b>one</div><div>two</b></div>"), "one\ntwo");
  EXPECT_EQ(HtmlToText("<b>1<p>2</b>3</p>"), "1\n\n23");
  EXPECT_EQ(HtmlToText("<p>a<p>b<ul><li>c<li>d</ul>e"), "a\n\nb\n\n- c\n- d\n\ne");
  EXPECT_EQ(HtmlToText("<table><tr><td>a<td>b<tr><td>c</table>"), "a | b\nc");
  EXPECT_EQ(HtmlToText("<dl><dt>t<dd>d<dt>u</dl>"), "t\nd\nu");
}

TEST(HtmlToTextTest, RepeatedMisNestingKeepsEveryParagraph) {
  // Each unit holds one paragraph: its word, with a blank line between paragraphs.
  std::string expected = "word";
  for (int i = 1; i < 1000; ++i) expected += "\n\nword";
  EXPECT_EQ(HtmlToText(Repeat("<b><div><i><p>word</b></div></i></p>", 1000)), expected);
  EXPECT_EQ(HtmlToText(Repeat("<div><b><i><p>word</div>", 1000)), expected);
}

TEST(HtmlToTextTest, ManyElementNamesOpenAndClose) {
  // More distinct names than the pre-filter keeps bookkeeping for once closed
  // (all within its depth limit): closing and reopening them finds the right element.
  std::string open;
  std::string close;
  for (int i = 0; i < 100; ++i) {
    open += "<x" + std::to_string(i) + ">";
    close = "</x" + std::to_string(i) + ">" + close;
  }
  const std::string html = Repeat(open + "a" + close + "<div>b</div>", 3) + open + "c</x50>d" + close;
  EXPECT_EQ(HtmlToText(html), "a\nb\na\nb\na\nb\ncd");
  const std::string filtered = internal::PrefilterHtml(html);
  EXPECT_EQ(Count(filtered, "<x50>"), Count(filtered, "</x50>"));
  EXPECT_EQ(Count(filtered, "<x99>"), 4u);
}

TEST(HtmlToTextTest, NestedListsAfterOutlookReplyHeaderAreQuoted) {
  const std::string html =
      "<div>Done.</div><div id=\"divRplyFwdMsg\"><b>From:</b> Bob</div>"
      "<ul><li>a<ul><li>b<ul><li>c</ul></ul></ul>";
  const std::string text = HtmlToText(html);
  EXPECT_NE(text.find("\n> - a\n>   - b\n>     - c"), std::string::npos) << text;
  EXPECT_EQ(HtmlToTextSplit(html).reply, "Done.");
}

// Found by html_fuzzer: Gumbo overflows on numeric references beyond Unicode and wrote invalid UTF-8 (or
// nothing).
TEST(HtmlToTextTest, NumericReferencesBeyondUnicodeAreReplacementCharacters) {
  for (const std::string ref :
       {"&#xD80EEEEEEEEEEEEEEEEEEEEEEEEEEEEE0;", "&#x80000000;", "&#99999999999;", "&#x110000;"}) {
    const std::string text = HtmlToText("<p>a" + ref + "b</p>");
    EXPECT_TRUE(IsValidUtf8(text)) << ref;
    EXPECT_EQ(text,
              "a\xEF\xBF\xBD"
              "b")
        << ref;
  }
  EXPECT_EQ(HtmlToText("<p>&#x1F600;&#233;&#x10FFFF;</p>"), "\xF0\x9F\x98\x80\xC3\xA9\xF4\x8F\xBF\xBF");
}

// The pre-filter hides runs of text from Gumbo behind characters of planes 15
// and 16 and reads them back in the renderer: the input's own characters there
// come back as they were, wherever Gumbo puts them.
constexpr std::string_view kF0000 = "\xF3\xB0\x80\x80";   // U+F0000, the first placeholder
constexpr std::string_view kF0001 = "\xF3\xB0\x80\x81";   // U+F0001
constexpr std::string_view k100000 = "\xF4\x80\x80\x80";  // U+100000, the first leading placeholder
constexpr std::string_view kFFFFD = "\xF3\xBF\xBF\xBD";   // U+FFFFD, the last placeholder
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s += p;
  return s;
}

TEST(HtmlToTextTest, CharactersOfPlanes15And16ComeBackAsTheyWere) {
  EXPECT_EQ(HtmlToText(Cat({"a", kF0000, "b ", k100000, " c", kFFFFD})),
            Cat({"a", kF0000, "b ", k100000, " c", kFFFFD}));
  EXPECT_EQ(HtmlToText(Cat({"<table><tr><td>x", kF0001, "y</td><td>", k100000, "</td></tr></table>"})),
            Cat({"x", kF0001, "y | ", k100000}));
  EXPECT_EQ(HtmlToText(Cat({"<pre>p", kF0000, "\n  q</pre>"})), Cat({"p", kF0000, "\n  q"}));
  EXPECT_EQ(HtmlToText(Cat({"<a href=\"http://x.example/\">l", kF0001, "</a>"})),
            Cat({"l", kF0001, " (http://x.example/)"}));
  EXPECT_EQ(HtmlToText(Cat({"<ul><li>", kF0000, "<li>", kF0001, "</ul>"})),
            Cat({"- ", kF0000, "\n- ", kF0001}));
  // Raw text: Gumbo reads no markup and no references there.
  EXPECT_EQ(HtmlToText(Cat({"<textarea>t", kF0000, " &amp; <b></textarea>"})), Cat({"t", kF0000, " & <b>"}));
  EXPECT_EQ(HtmlToText(Cat({"<xmp>x", kF0000, "<b>&amp;</xmp>"})), Cat({"x", kF0000, "<b>&amp;"}));
  EXPECT_EQ(HtmlToText(Cat({"<plaintext>p", kF0001, "<b>"})), Cat({"p", kF0001, "<b>"}));
  // Text that is not shown (a select, SVG, a title) leaks no run into what is.
  EXPECT_EQ(HtmlToText(Cat({"<select><option>o", kF0000, "</option></select>after"})), "after");
  EXPECT_EQ(HtmlToText(Cat({"<svg><text>s", kF0000, "</text></svg>after"})), "after");
  EXPECT_EQ(HtmlToText(Cat({"<title>t", kF0000, "</title>after"})), "after");
}

TEST(HtmlToTextTest, ThePrefiltersOwnCharactersAndReferencesToPlaceholdersAreReplaced) {
  // U+10FFFB..D are the pre-filter's paragraph, block and line break; U+10FFFA is not.
  EXPECT_EQ(HtmlToText("1\xF4\x8F\xBF\xBB"
                       "2\xF4\x8F\xBF\xBC"
                       "3\xF4\x8F\xBF\xBD"
                       "4\xF4\x8F\xBF\xBA"),
            Cat({"1", kReplacement, "2", kReplacement, "3", kReplacement, "4\xF4\x8F\xBF\xBA"}));
  // Gumbo would decode these into placeholders (&#x10FFFD; was a line break); noncharacters stay its own.
  EXPECT_EQ(HtmlToText("&#xF0000;|&#983040;|&#x10FFFB;|&#x10FFFD;|&#xEFFFF;|&#xFFFFF;"),
            Cat({kReplacement, "|", kReplacement, "|", kReplacement, "|", kReplacement,
                 "|\xF3\xAF\xBF\xBF|\xF3\xBF\xBF\xBF"}));
  // In tags they would reach Gumbo's text wherever it reads markup as text: they are replaced there too.
  EXPECT_EQ(HtmlToText(Cat({"<a href=\"http://x.example/", kF0000, "\">link</a>"})),
            Cat({"link (http://x.example/", kReplacement, ")"}));
}

TEST(HtmlToTextTest, MoreRunsThanOnePlaceholderCharacterCounts) {
  // 70,000 runs: from the 65,535th on, a run's placeholder is two characters.
  constexpr int kRuns = 70000;
  std::string html = "<ul>";
  std::string expected;
  for (int i = 0; i < kRuns; ++i) {
    html += "<li>line " + std::to_string(i);
    expected += (i == 0 ? "- line " : "\n- line ") + std::to_string(i);
  }
  EXPECT_NE(internal::PrefilterHtml(html).find("\xF4\x80\x80\x81"), std::string::npos);  // U+100001
  EXPECT_EQ(HtmlToText(html), expected);
}

// Between conversions the process keeps at most two blocks of Gumbo's
// memory, however many threads convert (a kept block stays resident: kept
// per thread, a daemon's RSS grew with its mailboxes and crept up over hours).
TEST(HtmlToTextTest, TheProcessKeepsAtMostTwoBlocksOfParserMemory) {
  std::string html;
  for (int i = 0; i < 60000; ++i) html += "<a href=\"https://x.example/" + std::to_string(i) + "\">link</a> ";
  EXPECT_GE(internal::ParsedTreeShape(html).nodes, 180000u);  // Gumbo needs many 2 MiB blocks for this tree
  std::vector<std::string> texts(4);
  std::vector<std::thread> threads;
  for (std::string& text : texts) threads.emplace_back([&] { text = HtmlToText(html); });
  for (std::thread& t : threads) t.join();
  for (const std::string& text : texts) EXPECT_NE(text.find("https://x.example/59999"), std::string::npos);
  EXPECT_GT(internal::KeptParserBytes(), 0u);  // the next conversion reuses them
  EXPECT_LE(internal::KeptParserBytes(), size_t{4} << 20);
}

}  // namespace
}  // namespace mail
