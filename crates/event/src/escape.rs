//! Text from logs made inert for where it is shown. Log text is attacker-controlled: every output that
//! puts it before a person (a terminal, a markup language) goes through here.

use std::borrow::Cow;

/// HTML element content and attribute values: the five characters that matter escaped.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a terminal must not receive raw: C0 controls (newline and tab included: they forge or hide
/// rows), DEL, C1 controls, and the bidirectional formatting characters that reorder what is shown.
fn unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// How an unsafe character is shown: `\n`, `\t`, `\r`, `\x1b` for C0 and DEL, `\u{202e}` above.
fn shown(c: char, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\t' => out.write_str("\\t"),
        '\r' => out.write_str("\\r"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

/// Whether a backslash followed by `rest` would read as one of the escapes [`shown`] writes (or as an
/// escaped backslash): then it is doubled, so that every rendering reads back to the text it came from.
/// Other backslashes stay single, and Windows paths stay readable (`C:\Windows\System32`).
fn ambiguous_backslash(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some(c) if unsafe_for_terminal(c) => true,
        Some('n' | 't' | 'r' | '\\') => true,
        Some('x') => chars.take(2).filter(char::is_ascii_hexdigit).count() == 2,
        Some('u') => chars.next() == Some('{'),
        _ => false,
    }
}

/// Appends how the character at `text[at..]` is shown; returns the bytes it took.
fn render(text: &str, at: usize, out: &mut String) -> Option<usize> {
    let c = text[at..].chars().next()?;
    let after = at + c.len_utf8();
    if unsafe_for_terminal(c) {
        shown(c, out);
    } else if c == '\\' && ambiguous_backslash(&text[after..]) {
        out.push_str("\\\\");
    } else {
        out.push(c);
    }
    Some(c.len_utf8())
}

fn needs_escaping(text: &str) -> bool {
    text.char_indices().any(|(at, c)| {
        unsafe_for_terminal(c) || (c == '\\' && ambiguous_backslash(&text[at + 1..]))
    })
}

/// Text for a terminal: escape sequences, other control characters and bidi overrides shown as visible
/// escapes (`\x1b`, `\n`, `\u{202e}`), everything else as it is, and a backslash doubled where it would
/// otherwise read as one of those escapes: [`unescape`] gives the text back. Borrowed when nothing needs
/// escaping.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !needs_escaping(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut at = 0;
    while let Some(len) = render(text, at, &mut out) {
        at += len;
    }
    Cow::Owned(out)
}

/// The text [`terminal`] was given, from what it showed: `\\` is a backslash, `\n`, `\t`, `\r`,
/// `\xHH` and `\u{H..}` the characters they name; any other backslash is itself.
pub fn unescape(shown: &str) -> String {
    let mut out = String::with_capacity(shown.len());
    let mut rest = shown;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (c, used) = match tail.as_bytes().first() {
            Some(b'\\') => (Some('\\'), 1),
            Some(b'n') => (Some('\n'), 1),
            Some(b't') => (Some('\t'), 1),
            Some(b'r') => (Some('\r'), 1),
            Some(b'x') => match tail
                .get(1..3)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            {
                Some(hex) => (
                    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                    3,
                ),
                None => (None, 0),
            },
            Some(b'u') if tail[1..].starts_with('{') => match tail.find('}') {
                Some(end) => (
                    u32::from_str_radix(&tail[2..end], 16)
                        .ok()
                        .and_then(char::from_u32),
                    end + 1,
                ),
                None => (None, 0),
            },
            _ => (None, 0),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How many terminal columns a character that is safe to show takes: two for wide (East Asian) ones,
/// none for combining marks and zero-width ones.
fn columns(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)
}

/// How many terminal columns text that is already safe to show takes.
fn columns_of(shown: &str) -> usize {
    shown.chars().map(columns).sum()
}

/// [`terminal`] text cut to `width` terminal columns (wide characters count two), with an ellipsis
/// when cut; an escape is kept whole or left out whole, never split, and so is a character with the
/// combining marks after it.
pub fn terminal_clipped(text: &str, width: usize) -> String {
    let safe = terminal(text);
    if columns_of(&safe) <= width {
        return safe.into_owned();
    }
    let room = width.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    let mut at = 0;
    while let Some(len) = {
        piece.clear();
        render(text, at, &mut piece)
    } {
        at += len;
        if !piece.starts_with('\\') {
            // marks that combine with this character go with it
            while let Some(next) = text[at..].chars().next() {
                if unsafe_for_terminal(next) || columns(next) != 0 || next == '\\' {
                    break;
                }
                piece.push(next);
                at += next.len_utf8();
            }
        }
        let n = columns_of(&piece);
        if used + n > room {
            break;
        }
        out.push_str(&piece);
        used += n;
    }
    out.push('…');
    out
}

/// [`terminal_clipped`] text padded with spaces to exactly `width` columns: a table cell that stays
/// aligned whatever the text's scripts.
pub fn terminal_cell(text: &str, width: usize) -> String {
    let mut cell = terminal_clipped(text, width);
    let used = columns_of(&cell);
    cell.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    cell
}

/// A Markdown table cell: line breaks as spaces, other control characters shown as escapes, and what
/// would start markup (pipes, HTML, links and images) escaped. Case text comes from logs.
pub fn markdown_cell(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    let mut out = String::with_capacity(flat.len());
    for c in terminal(&flat).chars() {
        // `<` opens HTML and autolinks (a lone `>` opens nothing), `[` links and images.
        if matches!(c, '\\' | '|' | '<' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown table cell holding a code span: what is inside shows as it is (markup, links and backslash
/// escapes are inert in code), so only the table's `|` is escaped, control characters are shown as
/// escapes, and the fence is longer than any run of backticks in the text.
pub fn markdown_code_cell(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    let shown = terminal(&flat).replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in shown.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        return format!("`{shown}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {shown} {fence}")
}

/// Markdown text outside tables: control characters shown as escapes, characters that would start
/// markup escaped.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in terminal(text).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_shows_controls_and_bidi_overrides_as_escapes() {
        let hostile = "root\u{1b}]0;owned\u{7}\u{1b}[2J\nalert 1 forged\u{202e}txt.exe\u{0}\u{9b}";
        let safe = terminal(hostile);
        assert_eq!(
            safe,
            "root\\x1b]0;owned\\x07\\x1b[2J\\nalert 1 forged\\u{202e}txt.exe\\x00\\u{9b}"
        );
        assert!(!safe.chars().any(unsafe_for_terminal));
        assert!(matches!(terminal("plain café ✓"), Cow::Borrowed(_)));
        assert_eq!(unescape(&safe), hostile);
    }

    #[test]
    fn a_backslash_is_doubled_only_where_it_would_read_as_an_escape() {
        // a Windows path keeps its backslashes, except before n, t, r, x + two hex digits, u{ or \\
        assert!(matches!(
            terminal(r"C:\Windows\System32\cmd.exe"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            terminal(r"C:\Windows\notepad.exe"),
            r"C:\Windows\\notepad.exe"
        );
        // a log line that spells an escape out is not mistaken for one
        assert_eq!(terminal("\\x1b[2J and \u{1b}"), r"\\x1b[2J and \x1b");
        assert_eq!(terminal(r"\xg1 \u202e \q"), r"\xg1 \u202e \q");
        // a backslash before a control character is doubled: the control's escape starts with one
        assert_eq!(terminal("\\\n"), r"\\\n");
        for text in [
            r"C:\Windows\notepad.exe",
            "\\x1b\u{1b}",
            "\\\n",
            r"\\\",
            r"\u{zz}",
            "end\\",
        ] {
            assert_eq!(unescape(&terminal(text)), text);
        }
    }

    #[test]
    fn clipping_never_splits_an_escape() {
        assert_eq!(terminal_clipped("abc\u{1b}[31m", 6), "abc…");
        assert_eq!(terminal_clipped("ab\u{1b}cdef", 8), "ab\\x1bc…");
        assert_eq!(terminal_clipped("ab\u{1b}cd", 8), "ab\\x1bcd");
        assert_eq!(terminal_clipped("exactly8", 8), "exactly8");
        assert_eq!(terminal_clipped("nine char", 8), "nine ch…");
    }

    #[test]
    fn clipping_counts_terminal_columns() {
        // wide characters take two columns, combining marks none and stay with their letter
        assert_eq!(terminal_clipped("漢字漢字漢字", 12), "漢字漢字漢字");
        assert_eq!(terminal_clipped("漢字漢字漢字", 11), "漢字漢字漢…");
        assert_eq!(terminal_clipped("漢字漢字漢字", 6), "漢字…");
        assert_eq!(
            terminal_clipped("e\u{301}e\u{301}e\u{301}xyz", 4),
            "e\u{301}e\u{301}e\u{301}…"
        );
        assert_eq!(terminal_cell("漢字", 6), "漢字  ");
        assert_eq!(terminal_cell("a\u{1b}b", 4), "a…  ");
        assert_eq!(columns_of(&terminal("漢\u{1b}")), 6);
    }

    #[test]
    fn markup_and_quotes_are_escaped_and_the_rest_kept() {
        assert_eq!(
            html("<img src=x onerror='a(\"1\")'> & é"),
            "&lt;img src=x onerror=&#39;a(&quot;1&quot;)&#39;&gt; &amp; é"
        );
    }

    /// Random text drawn from the characters that matter (controls, C1, bidi formatting, escapes,
    /// wide and combining text) never reaches a rendered line raw, and clipping keeps the limit.
    #[test]
    fn random_text_never_renders_a_control_or_bidi_character() {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', ' ', '\\', '\\', 'n', 't', 'r', 'x', 'u', '{', '}', '1', 'b', 'f', '"',
            '\'', '[', '\u{0}', '\u{7}', '\u{8}', '\t', '\n', '\r', '\u{1b}', '\u{1f}', '\u{7f}',
            '\u{80}', '\u{9b}', '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}',
            '\u{202e}', '\u{2066}', '\u{2069}', 'é', '漢', '\u{301}', '✓',
        ];
        let mut rng = secops_testkit::mutate::Rng::new(0x5afe_7e47);
        for _ in 0..5000 {
            let len = rng.below(40);
            let text: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            let safe = terminal(&text);
            assert!(
                !safe.chars().any(unsafe_for_terminal),
                "{text:?} -> {safe:?}"
            );
            assert_eq!(unescape(&safe), text, "{safe:?}");
            let width = rng.below(30) + 1;
            let clipped = terminal_clipped(&text, width);
            assert!(
                columns_of(&clipped) <= width.max(1),
                "{text:?} at {width} -> {clipped:?}"
            );
            let cell = terminal_cell(&text, width);
            assert_eq!(columns_of(&cell), width, "{text:?} at {width} -> {cell:?}");
            assert!(!clipped.chars().any(unsafe_for_terminal), "{clipped:?}");
            // What is kept is a beginning of the whole rendering that ends between two characters'
            // renderings: whole escapes only.
            let kept = clipped.strip_suffix('…').unwrap_or(&clipped);
            let mut boundaries = vec![0];
            let (mut rendered, mut at) = (String::new(), 0);
            while let Some(len) = render(&text, at, &mut rendered) {
                at += len;
                boundaries.push(rendered.len());
            }
            assert!(
                safe.starts_with(kept) && boundaries.contains(&kept.len()),
                "{kept:?} splits an escape of {safe:?}"
            );
        }
    }
}
