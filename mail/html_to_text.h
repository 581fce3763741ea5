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
// Hostile HTML stays cheap: elements nested deeper than 256 levels lose their
// tags (their text is kept) before Gumbo sees them, because Gumbo's time grows
// with the square of the nesting depth; input beyond 4 MiB is not read, because
// Gumbo's tree takes up to about 35 times the size of tag-dense HTML.
//
// Thread-safety: pure functions; safe to call concurrently.
#ifndef MAILFORUM_MAIL_HTML_TO_TEXT_H_
#define MAILFORUM_MAIL_HTML_TO_TEXT_H_

#include <string>
#include <string_view>

namespace mail {

// The text of `html` (UTF-8; invalid bytes become U+FFFD), LF line ends, no
// leading or trailing blank lines. Never fails: text that is not HTML comes out
// as its whitespace-collapsed self.
std::string HtmlToText(std::string_view html);

struct HtmlToTextResult {
  std::string reply;   // the text before the first client quote container
  std::string quoted;  // from that container to the end ("" when there is none)
};

// HtmlToText split at the first client quote container listed above (a plain
// <blockquote> without type=cite is not one). reply + quoted holds the same
// lines as HtmlToText(html).
HtmlToTextResult HtmlToTextSplit(std::string_view html);

}  // namespace mail

#endif  // MAILFORUM_MAIL_HTML_TO_TEXT_H_
