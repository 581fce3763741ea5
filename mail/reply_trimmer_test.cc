#include "mail/reply_trimmer.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace mail {
namespace {

std::string Trimmed(std::string_view body) { return TrimReply(body).trimmed; }

// Checks both parts of TrimReply(body).
void ExpectSplit(std::string_view body, std::string_view trimmed, std::string_view elided) {
  const TrimResult result = TrimReply(body);
  EXPECT_EQ(result.trimmed, trimmed) << body;
  EXPECT_EQ(result.elided, elided) << body;
}

std::string Repeat(std::string_view line, size_t times) {
  std::string out;
  out.reserve((line.size() + 1) * times);
  for (size_t i = 0; i < times; ++i) {
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

TEST(TrimReply, KeepsPlainTextWhole) {
  ExpectSplit("Hello,\n\nthe VPN is down again.\n\nAnna\n", "Hello,\n\nthe VPN is down again.\n\nAnna", "");
}

TEST(TrimReply, EmptyAndBlankBodies) {
  EXPECT_EQ(Trimmed(""), "");
  EXPECT_EQ(Trimmed(" \n\t\n"), "");
}

TEST(TrimReply, NormalizesLineEnds) {
  EXPECT_EQ(Trimmed("one\r\ntwo\rthree\n"), "one\ntwo\nthree");
  EXPECT_EQ(
      Trimmed("Yes.\r\n\r\nOn Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\r\n> Is it?\r\n"),
      "Yes.");
}

TEST(TrimReply, CutsAttributionAndQuote) {
  ExpectSplit(
      "Thanks!\n\nOn Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Does it work?\n>\n",
      "Thanks!", "On Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Does it work?\n>");
}

TEST(TrimReply, JoinsAttributionWrappedOverTwoLines) {
  ExpectSplit(
      "Yes.\n\nOn Mon, Jan 4, 2021 at 10:00 AM Bob via Help <\nhelp@example.com> wrote:\n\n> Does it?\n",
      "Yes.", "On Mon, Jan 4, 2021 at 10:00 AM Bob via Help < help@example.com> wrote:\n\n> Does it?");
}

TEST(TrimReply, JoinsAttributionWrappedOverSeveralLines) {
  EXPECT_EQ(
      Trimmed("C'est super !\nLe 4 janv. 2016 19:03, \"Neil\"\n<neil@example.com>\na écrit :\n\n> Bonjour\n"),
      "C'est super !");
  EXPECT_EQ(
      Trimmed("Okay.\n\nMax <max@example.com> schrieb am Fr., 28.\nApr. 2017 um 11:53 Uhr:\n\n> Hallo\n"),
      "Okay.");
}

TEST(TrimReply, RecognisesAttributionsInManyLanguages) {
  constexpr std::string_view kMarkers[] = {
      "On Tue, Mar 1, 2011 at 6:02 PM, Some One <one@example.com> wrote:",
      "Am 03.02.2016 um 15:35 schrieb Max Mustermann <max@example.com>:",
      "Le 4 janv. 2016 à 19:03, Neil <neil@example.com> a écrit :",
      "El jueves, 21 de noviembre de 2013, Pablo escribió:",
      "Op 2 feb. 2015 om 05:28 heeft Sky <sky@example.com> het volgende geschreven:",
      "Il 26 marzo 2016 alle 13.16 Sam <sam@example.com> ha scritto:",
      "Em 2 de fevereiro de 2015 10:58, Ana <ana@example.com> escreveu:",
      "понедельник, 6 октября 2014 г. пользователь lidel написал:",
      "在 2016年12月12日，下午8:45，Erlend <erlend@example.com> 写道：",
      "2016年12月12日(月) 20:45 Erlend <erlend@example.com>:",
      "Den 5 juni 2017 kl. 12:22 skrev Foo Bar <foo@example.com>:",
      "Dnia 14 lip 2015 o godz. 00:25 Michael <m@example.com> napisał(a):",
      "30 серп. 2016 р. 20:45 \"Arpit\" <arpit@example.com> пише:",
      "2016-03-03 17:21 GMT+01:00 Some One",
      "---- On Tue, 22 Dec 2015 14:17:36 +0530 Sam <sam@example.com> wrote ----",
  };
  for (std::string_view marker : kMarkers) {
    const std::string body = "Reply.\n\n" + std::string(marker) + "\n\n> Quoted question\n> more\n";
    EXPECT_EQ(Trimmed(body), "Reply.") << marker;
  }
}

TEST(TrimReply, RecognisesCommonClientLayouts) {
  // Outlook desktop.
  EXPECT_EQ(
      Trimmed("Thanks, fixed.\n\nFrom: Bob Smith <bob@example.com> \nSent: Monday, January 4, 2021 10:00 AM\n"
              "To: Help <help@example.com>\nCc: Ops <ops@example.com>\nSubject: RE: VPN\n\nOld text\n"),
      "Thanks, fixed.");
  // Outlook with a rule above the headers.
  EXPECT_EQ(Trimmed("Fixed.\n\n________________________________\nFrom: Bob\nSent: 4 January 2021 10:00\n"
                    "To: Help\nSubject: VPN\n\nOld"),
            "Fixed.");
  // Apple Mail on a phone.
  EXPECT_EQ(
      Trimmed("Yes\n\nSent from my iPhone\n\n> On Jan 4, 2021, at 10:00, Bob <bob@example.com> wrote:\n>\n"
              "> Old text\n"),
      "Yes");
  // Thunderbird, without an address.
  EXPECT_EQ(Trimmed("Done.\n\nOn 04/01/2021 10:00, Bob Smith wrote:\n> Old text\n"), "Done.");
  // Yahoo.
  EXPECT_EQ(
      Trimmed("Ok\n\nOn Monday, January 4, 2021, 10:00:00 AM GMT+1, Bob <bob@example.com> wrote:\n\n\nOld\n"),
      "Ok");
  // Gmail in Russian, with the day's full name.
  EXPECT_EQ(Trimmed("Да.\n\nпонедельник, 6 октября 2014 г. пользователь lidel написал:\n\n> Вопрос\n"),
            "Да.");
}

TEST(TrimReply, KeepsTextThatOnlyLooksLikeAnAttribution) {
  // No date, address or list: a sentence, not an attribution.
  const std::string body = "Here is what Bob wrote:\n\n> The server is down\n\nI agree.";
  EXPECT_EQ(Trimmed(body), body);
}

TEST(TrimReply, KeepsSentencesThatEndLikeAnAttribution) {
  // A year alone does not open an attribution: with no quote below, a marker
  // would cut everything after it.
  const std::string body = "Hi,\n\nIn 2019 the CEO wrote:\n\n  \"We will migrate.\"\n\nWhat's the status?";
  EXPECT_EQ(Trimmed(body), body);
}

TEST(TrimReply, KeepsInlineRepliesBetweenQuotes) {
  const std::string body =
      "Hi Bob,\n\nOn Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\n> Question one?\n\n"
      "Answer one.\n\n> Question two?\n\nAnswer two.\n";
  EXPECT_EQ(Trimmed(body), "Hi Bob,\n\n> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two.");
}

TEST(TrimReply, KeepsReplyWrittenBelowTheQuote) {
  ExpectSplit("On Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Does it?\n\nIt does.\n",
              "It does.", "On Mon, Jan 4, 2021 at 10:00 AM Bob <bob@example.com> wrote:\n\n> Does it?");
}

TEST(TrimReply, KeepsFencedCodeBlocks) {
  const std::string body =
      "Try this:\n\n```\n-- \n> not a quote\nFrom: not a header\nSent: 2021-01-04\nTo: nobody\n"
      "Sent from my iPhone\n```\n\nThanks";
  EXPECT_EQ(Trimmed(body), body);
}

TEST(TrimReply, UnclosedFenceIsNotCode) { EXPECT_EQ(Trimmed("```\nsee below\n-- \nBob"), "```\nsee below"); }

TEST(TrimReply, KeepsIndentedCodeBlocks) {
  const std::string body = "Run:\n\n    -- a comment\n    >>> print(1)\n    ----\n\nDone.";
  EXPECT_EQ(Trimmed(body), body);
}

TEST(TrimReply, CutsOutlookHeaderBlock) {
  ExpectSplit(
      "Sure, done.\n\nFrom: Bob <bob@example.com>\nSent: Monday, 4 January 2021 10:00\nTo: Help "
      "<help@example.com>\nSubject: VPN\n\nThe VPN is down.\n",
      "Sure, done.",
      "From: Bob <bob@example.com>\nSent: Monday, 4 January 2021 10:00\nTo: Help <help@example.com>\n"
      "Subject: VPN\n\nThe VPN is down.");
}

TEST(TrimReply, CutsLocalizedOutlookHeaderBlocks) {
  EXPECT_EQ(Trimmed("Erledigt.\n\nVon: Bob <bob@example.com>\nGesendet: Montag, 4. Januar 2021 10:00\n"
                    "An: Hilfe <help@example.com>\nBetreff: VPN\n\nDas VPN geht nicht.\n"),
            "Erledigt.");
  EXPECT_EQ(Trimmed("Klart.\n\nFrån: Foo Bar [mailto:foo@example.com]\nSkickat: den 5 juni 2017 12:22\n"
                    "Till: someone@example.com\nÄmne: Bilder\n\nHär är bilderna.\n"),
            "Klart.");
}

TEST(TrimReply, CutsHeaderBlockWithWrappedSubject) {
  EXPECT_EQ(Trimmed("Done.\n\nFrom: Bob <bob@example.com>\nDate: Thu, Jan 28, 2016 at 4:00 PM\n"
                    "Subject: a subject that\nspans two lines\nTo: help@example.com\n\nOld text\n"),
            "Done.");
}

TEST(TrimReply, KeepsLoneHeaderLikeLines) {
  // Only a block of headers is an embedded mail; one such line is the person's text.
  const std::string body = "Hi,\n\nSubject: the VPN is down again\n\nCan you help?";
  EXPECT_EQ(Trimmed(body), body);
  EXPECT_EQ(Trimmed("A: yes, restart it.\nB: thanks"), "A: yes, restart it.\nB: thanks");
}

TEST(TrimReply, CutsOriginalAndForwardedMessageMarkers) {
  EXPECT_EQ(Trimmed("Igual.\n\n-----Mensaje original-----\nDe: Miguel\nAsunto: Hola\n\nTexto"), "Igual.");
  EXPECT_EQ(Trimmed("See below.\n\n-----Original Message-----\nFrom: Bob\n\nOld"), "See below.");
  EXPECT_EQ(Trimmed("FYI\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\n"
                    "Date: Tue, Jan 1, 2019 at 12:00 PM\nSubject: Hi\nTo: <help@example.com>\n\nOld"),
            "FYI");
  EXPECT_EQ(Trimmed("FYI\n\n> Begin forwarded message:\n>\n> From: Bob <bob@example.com>\n> Old"), "FYI");
}

TEST(TrimReply, CutsSignatureAfterDelimiter) {
  ExpectSplit("See you.\n\n-- \nBob Example\nACME Inc.\n", "See you.", "-- \nBob Example\nACME Inc.");
}

TEST(TrimReply, KeepsLoneBulletThatLooksLikeADelimiter) {
  EXPECT_EQ(Trimmed("Items:\n-\nmore text"), "Items:\n-\nmore text");
}

TEST(TrimReply, RemovesMobileSignOffs) {
  constexpr std::string_view kSignOffs[] = {
      "Sent from my iPhone",
      "Envoyé de mon iPhone",
      "Von meinem iPhone gesendet",
      "Inviato da iPhone",
      "Enviado desde mi iPhone",
      "Verstuurd vanaf mijn iPhone",
      "Skickat från min iPhone",
      "Wysłane z iPhone'a",
      "Отправлено с iPhone",
      "iPhoneから送信",
      "发自我的iPhone",
      "Get Outlook for Android",
      "Sent from\u00a0my iPhone",
      "Sent from [Mail](https://example.com) for Windows 10",
  };
  for (std::string_view sign_off : kSignOffs) {
    ExpectSplit("Thanks!\n\n" + std::string(sign_off) + "\n", "Thanks!", sign_off);
  }
}

TEST(TrimReply, KeepsSentencesThatStartLikeSignOffs) {
  const std::string body = "Sent by courier, the parcel\narrives Monday.\n\nFrom my point of view, fine.";
  EXPECT_EQ(Trimmed(body), body);
}

TEST(TrimReply, CutsTrailingQuoteButKeepsQuoteOnlyMessages) {
  EXPECT_EQ(Trimmed("Ok.\n\n> old\n> older\n"), "Ok.");
  EXPECT_EQ(Trimmed("> only a quote\n"), "> only a quote");
  EXPECT_EQ(Trimmed("> a quote\n\nand my answer"), "> a quote\n\nand my answer");
}

TEST(TrimReply, NormalizesOtherQuoteStyles) {
  ExpectSplit("Ok.\n\nBob> old text\nC>\n| piped\n", "Ok.", "> old text\n>\n> piped");
  // Table rows and "a>b" are not quotes.
  EXPECT_EQ(Trimmed("| a | b |\n| 1 | 2 |\nx>y"), "| a | b |\n| 1 | 2 |\nx>y");
}

TEST(TrimReply, UnwrapsEnclosedQuotes) {
  ExpectSplit("Agreed.\n\n>>>>\nold text\n<<<<\n", "Agreed.", "> old text");
}

TEST(TrimReply, DropsPgpArmour) {
  ExpectSplit(
      "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSigned text.\n-----BEGIN PGP SIGNATURE-----\n\n"
      "iQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n",
      "Signed text.", "");
}

TEST(TrimReply, KeepsBytesThatAreNotUtf8) {
  const std::string body = std::string("caf\xE9 \xFF\xFE ok\0end", 15);
  EXPECT_EQ(Trimmed(body), body);
  EXPECT_EQ(Trimmed("\xE2\x80"), "\xE2\x80");
}

// A megabyte of nesting or of markers must not make the trimmer slow (the
// conformance test bounds the time); here only the results are checked.
TEST(TrimReply, PathologicalNestedQuotes) {
  EXPECT_EQ(Trimmed("Top.\n\n" + Repeat("> > > >", 100000)), "Top.");
  EXPECT_EQ(Trimmed(Repeat("> > > >", 100000)), "> > > >");
}

TEST(TrimReply, PathologicalMarkers) {
  EXPECT_EQ(Trimmed(Repeat("On x wrote:", 100000)).size(), 100000u * 12 - 1);
  EXPECT_EQ(Trimmed("Top.\n" + Repeat("On 1 x wrote:", 100000)), "Top.");
  // Every line starts an attribution that never ends: each tries to join.
  EXPECT_EQ(Trimmed(Repeat("On Mon, 4 Jan 2021, Bob <", 100000)).size(), 100000u * 26 - 1);
  EXPECT_EQ(Trimmed("Top.\n\n" + Repeat("> On Mon, Jan 4, 2021 Bob <b@example.com> wrote:\n>", 50000)),
            "Top.");
}

// Deeply nested HTML lists render as lines of hundreds of leading blanks;
// every rule skips them (the trimmer has a fast path for ASCII blanks), and
// Unicode blanks after them still count as blanks.
TEST(TrimReply, DeeplyIndentedLines) {
  std::string list = "Top:";
  for (size_t depth = 1; depth <= 200; ++depth) list += "\n" + std::string(2 * depth, ' ') + "- item";
  // An indented quote (tabs, spaces, an em space) ends the mail: it goes.
  const std::string quote = std::string(300, ' ') + "\t\xE2\x80\x83 \t> quoted";
  EXPECT_EQ(Trimmed(list + "\n" + quote), list);
  // Indented headers of an embedded mail: the block goes from there.
  const std::string headers = std::string(100, ' ') + "*From:* a@example.com\n" + std::string(100, ' ') +
                              "*Sent:* Monday, 4 January 2021\n" + std::string(100, ' ') + "\xC2\xA0 Subject: x\n" +
                              std::string(100, ' ') + "Hello";
  EXPECT_EQ(Trimmed(list + "\n" + headers), list);
  // Lines of blanks only, whatever blanks, are blank lines.
  EXPECT_EQ(Trimmed(std::string(500, ' ') + "\xC2\xA0\t\n" + list + "\n" + std::string(300, ' ') + "\t"), list);
}

TEST(TrimReply, PathologicalLongLines) {
  const std::string long_line(1 << 20, '>');
  EXPECT_EQ(Trimmed("Top.\n" + long_line), "Top.");
  const std::string brackets = "Sent from " + std::string(100000, '[') + "\nOn " + std::string(100000, '1');
  EXPECT_EQ(Trimmed(brackets), brackets);
}

}  // namespace
}  // namespace mail
