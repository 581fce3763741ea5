// HTML to plain text for mail bodies that come only as HTML, with a real HTML
// parser (Gumbo, the WHATWG parsing algorithm; no regular expressions).
//
// Rendering follows what a browser shows: whitespace collapsed; <p>, headings,
// <blockquote>, <pre>, lists and tables as blocks separated by one blank line;
// <div> and the other block elements on their own lines (browsers give them no
// margin, and Gmail writes one <div> per line); <br> as a line break; at most
// one blank line in a row. Lists are "- item" / "1. item" (nested lists
// indented by two spaces); blockquote lines start with "> "; links are
// "text (URL)", or just the text when it already is the URL (also for mailto:
// links showing their address); table rows are lines with their non-empty cells
// joined by " | " (rows whose cells hold several lines are written cell after
// cell, so layout tables stay readable); <hr> is a line of underscores;
// entities are decoded. <script>, <style>, <head>, <title> and other non-text
// elements are dropped, as are hidden ones (the hidden attribute, style
// display:none, visibility:hidden or mso-hide:all).
//
// Quoted history that mail clients mark is written as "> " lines so that the
// reply trimmer (mail/reply_trimmer.h) cuts it: Gmail's div.gmail_quote (its
// attribution "On … wrote:" stays a plain line; the blockquote inside is
// quoted), Thunderbird's div.moz-cite-prefix with the blockquote after it,
// Apple Mail's blockquote[type=cite], Yahoo's .yahoo_quoted and Outlook for
// Mac's #OLK_SRC_BODY_SECTION (quoted whole), Outlook's #divRplyFwdMsg (its
// From/Sent/To/Subject block stays plain, everything after it is quoted; an
// empty #appendonsend before it marks the start) and Outlook.com's
// hr#stopSpelling (everything after it is quoted). Outlook's paragraphs
// (class Mso...) have no margin in its style sheet and are single lines.
//
// Hostile HTML stays cheap: time and stack are linear in the input whatever
// it holds. Gumbo's time grows with the depth of its tree and with its list
// of active formatting elements, so before Gumbo sees the HTML a pre-filter
// tokenizes it and hands Gumbo a balanced stream of at most 128 open elements
// (every start tag counted; deeper tags are dropped, their text kept; links
// only in the outer 48 levels), without the inline elements that show nothing
// in text (b, i, font, span, ...: the ones the tree builder would reopen in
// every block) and without the attributes the renderer does not read (at most
// 64 per tag). Mis-nested markup may therefore render a little differently
// from a browser (an inline element left open ends where its block ends),
// never with other text. Gumbo spends over a hundred instructions on each
// character of text, so the pre-filter also keeps runs of text from it: each
// reaches Gumbo as one or two private-use characters of planes 15 and 16 that
// the renderer reads back from a side table; <br>, and <div> and <p> without
// attributes where the tree builder treats them as text, reach it as
// U+10FFFD, U+10FFFC and U+10FFFB. So the input's own U+10FFFB..D, numeric
// references to planes 15 and 16 (noncharacters aside), and those characters
// inside tags (where Gumbo might read markup as text) become U+FFFD; the
// input's other characters of planes 15 and 16 in text come back as they were.
// Gumbo's memory is one arena, freed at once (never node by node, so freeing
// cannot recurse); the renderer recurses at most 400 levels. Input beyond 4 MiB is not read (Gumbo's tree
// takes up to about 35 times the size of tag-dense HTML), and the text produced stops at the size of the HTML
// read plus 64 KiB (cut at a character boundary), as quote prefixes and indentation repeated on every line
// could make it many times longer; both are reported as truncation where the API can carry it.
//
// Thread-safety: pure functions; safe to call concurrently. Each thread keeps
// up to 16 MiB of Gumbo's memory for its next call (fresh pages cost a page
// fault each), freed when the thread ends.
#ifndef MAILFORUM_MAIL_HTML_TO_TEXT_H_
#define MAILFORUM_MAIL_HTML_TO_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace mail {

// The text of `html` (UTF-8; invalid bytes become U+FFFD), LF line ends, no
// leading or trailing blank lines. Never fails: text that is not HTML comes out
// as its whitespace-collapsed self.
std::string HtmlToText(std::string_view html);

struct HtmlText {
  std::string text;        // as HtmlToText
  bool truncated = false;  // HTML beyond 4 MiB was not read, or the text reached its limit
};

// HtmlToText, saying whether the text is all there.
HtmlText HtmlToTextChecked(std::string_view html);

struct HtmlToTextResult {
  std::string reply;       // the text before the first client quote container
  std::string quoted;      // from that container to the end ("" when there is none)
  bool truncated = false;  // as HtmlText::truncated
};

// HtmlToText split at the first client quote container listed above (a plain
// <blockquote> without type=cite is not one). reply + quoted holds the same
// lines as HtmlToText(html).
HtmlToTextResult HtmlToTextSplit(std::string_view html);

namespace internal {

// For tests and the fuzzer: what the pre-filter hands Gumbo, and the shape of
// the tree Gumbo builds from it (its depth is a factor of Gumbo's time and
// bounds the renderer's work; its node count shows whether elements were
// cloned over and over).
std::string PrefilterHtml(std::string_view html);

struct HtmlTreeShape {
  size_t depth = 0;  // the document node is depth 0
  size_t nodes = 0;  // every node: document, elements, text, comments
};
HtmlTreeShape ParsedTreeShape(std::string_view html);

// For tests: the bytes of Gumbo's memory the process keeps between
// conversions for the next ones, whichever thread runs them (at most two
// 2 MiB blocks, resident).
size_t KeptParserBytes();

}  // namespace internal

}  // namespace mail

#endif  // MAILFORUM_MAIL_HTML_TO_TEXT_H_
