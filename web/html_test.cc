#include "web/html.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace web {
namespace {

std::string Escaped(std::string_view text) {
  std::string out;
  AppendHtmlEscaped(out, text);
  return out;
}

std::string XmlEscaped(std::string_view text) {
  std::string out;
  AppendXmlEscaped(out, text);
  return out;
}

TEST(CleanTextTest, KeepsValidTextAndLineBreaks) {
  const std::string text = "Grüße, 日本語 and emoji \xF0\x9F\x98\x80\tcol\r\nnext line; עברית";
  EXPECT_EQ(CleanText(text), text);
}

TEST(CleanTextTest, InvalidUtf8BecomesReplacementCharacters) {
  // A lone continuation byte, a truncated sequence, an overlong '/', a UTF-16
  // surrogate and a value beyond U+10FFFF.
  EXPECT_EQ(CleanText("a\x80z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(CleanText("a\xE2\x82"), "a\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(CleanText("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(CleanText("\xED\xA0\x80").find("\xED"), std::string::npos);
  EXPECT_EQ(CleanText("\xF4\x90\x80\x80").find("\xF4"), std::string::npos);
  EXPECT_EQ(CleanText("\xFF"), "\xEF\xBF\xBD");
}

TEST(CleanTextTest, DropsControlsNoncharactersAndBidiOverrides) {
  const std::string text = std::string("a\0b", 3) + "\x01\x1B[31m\x7F" + "\xC2\x85" +  // C0, DEL, C1 (NEL)
                           "\xEF\xBF\xBE\xEF\xBF\xBF" +                                // U+FFFE, U+FFFF
                           "\xE2\x80\xAE"
                           "gnp.exe"
                           "\xE2\x80\xAC" +              // RLO ... PDF
                           "\xE2\x81\xA6x\xE2\x81\xA9";  // LRI x PDI
  EXPECT_EQ(CleanText(text), "ab[31mgnp.exex");
}

TEST(CleanTextTest, CleanLineJoinsLines) { EXPECT_EQ(CleanLine("a\r\nb\tc"), "a  b c"); }

TEST(CleanTextTest, TruncatesAtCodePoints) {
  EXPECT_EQ(TruncateChars("äöü", 2), "äö\xE2\x80\xA6");
  EXPECT_EQ(TruncateChars("äöü", 3), "äöü");
  EXPECT_EQ(TruncateChars("", 0), "");
  EXPECT_EQ(CountChars("a\xF0\x9F\x98\x80ü"), 3u);
}

TEST(HtmlEscapeTest, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(Escaped("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  EXPECT_EQ(Escaped("&amp;"), "&amp;amp;");
}

TEST(HtmlEscapeTest, CleansWhileEscaping) {
  EXPECT_EQ(Escaped(std::string("<\0>\xFF", 4)), "&lt;&gt;\xEF\xBF\xBD");
}

TEST(XmlEscapeTest, CdataEndAndIllegalCharacters) {
  EXPECT_EQ(XmlEscaped("]]></script>\x0B\x0C"), "]]&gt;&lt;/script&gt;");
  EXPECT_EQ(XmlEscaped("\xEF\xBF\xBF"), "");
}

TEST(UrlTest, PercentEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(PercentEncode("a b/c?d=e&f#g"), "a%20b%2Fc%3Fd%3De%26f%23g");
  EXPECT_EQ(PercentEncode("Re: ü"), "Re%3A%20%C3%BC");
  EXPECT_EQ(PercentEncode("-._~Az09"), "-._~Az09");
  EXPECT_EQ(PercentEncode("\xFF"), "%EF%BF%BD");
  EXPECT_EQ(PercentEncode("\"><script>"), "%22%3E%3Cscript%3E");
}

TEST(UrlTest, MailtoKeepsAddressCharacters) {
  EXPECT_EQ(MailtoEncode("help+AbC_1@example.com"), "help+AbC_1@example.com");
  EXPECT_EQ(MailtoEncode("a?b@x"), "a%3Fb@x");
}

TEST(UrlTest, SafeHrefAllowsOnlyWebMailAndRelative) {
  EXPECT_TRUE(IsSafeHref("/t/1"));
  EXPECT_TRUE(IsSafeHref("?after=1.2"));
  EXPECT_TRUE(IsSafeHref("#main"));
  EXPECT_TRUE(IsSafeHref("https://example.com/x?y=1"));
  EXPECT_TRUE(IsSafeHref("HTTP://example.com"));
  EXPECT_TRUE(IsSafeHref("mailto:help+x@example.com?subject=Re%3A"));
  for (const char* bad :
       {"", "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
        "java\nscript:x", "data:text/html,<script>", "vbscript:x", "//evil.example/x", "/\\evil.example",
        "http://", "https:///path", "file:///etc/passwd", "relative/path", "mailto:", "http://a b"}) {
    EXPECT_FALSE(IsSafeHref(bad)) << bad;
  }
  EXPECT_TRUE(IsWebUrl("https://example.com"));
  EXPECT_FALSE(IsWebUrl("mailto:a@b"));
  EXPECT_FALSE(IsWebUrl("/t/1"));
}

TEST(HtmlWriterTest, TextAndAttributesAreEscapedMarkupIsNot) {
  HtmlWriter w;
  w.Html("<p").Attr("title", "\" onmouseover=\"alert(1)").Html(">").Text("<b>").Number(-42).Html("</p>");
  EXPECT_EQ(w.str(), "<p title=\"&quot; onmouseover=&quot;alert(1)\">&lt;b&gt;-42</p>");
}

TEST(HtmlWriterTest, HrefRefusesUnsafeUrls) {
  HtmlWriter w;
  EXPECT_FALSE(w.Href("javascript:alert(1)"));
  EXPECT_EQ(w.str(), "");
  EXPECT_TRUE(w.Href("/search?q=a&b=\"c\""));
  EXPECT_EQ(w.str(), " href=\"/search?q=a&amp;b=&quot;c&quot;\"");
}

TEST(HtmlWriterTest, AppendTakesAnotherWritersOutput) {
  HtmlWriter inner;
  inner.Html("<em>").Text("<x>").Html("</em>");
  HtmlWriter outer;
  outer.Html("<p>").Append(inner).Html("</p>");
  EXPECT_EQ(outer.str(), "<p><em>&lt;x&gt;</em></p>");
}

// TrustedHtml's constructor is consteval, so `w.Html(some_std_string.c_str())`
// does not compile; this checks the type cannot be made from a string at run time.
static_assert(!std::is_constructible_v<TrustedHtml, std::string>);
static_assert(!std::is_constructible_v<TrustedHtml, std::string_view>);
static_assert(!std::is_convertible_v<TrustedXml, TrustedHtml>);

TEST(XmlWriterTest, EscapesTextAndAttributes) {
  XmlWriter x;
  x.Xml("<title").Attr("type", "a\"b<").Xml(">").Text("]]>&").Xml("</title>");
  EXPECT_EQ(x.str(), "<title type=\"a&quot;b&lt;\">]]&gt;&amp;</title>");
}

}  // namespace
}  // namespace web
