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

/// Text for a terminal: escape sequences, other control characters and bidi overrides shown as visible
/// escapes (`\x1b`, `\n`, `\u{202e}`), everything else as it is. Borrowed when nothing needs escaping.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_for_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_for_terminal(c) {
            shown(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How many terminal columns a character that is safe to show takes: two for wide (East Asian) ones,
/// none for combining marks and zero-width ones.
fn columns(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)
}

/// How many terminal columns [`terminal`] text takes.
pub fn width(text: &str) -> usize {
    terminal(text).chars().map(columns).sum()
}

/// [`terminal`] text cut to `width` terminal columns (wide characters count two), with an ellipsis
/// when cut; an escape is kept whole or left out whole, never split, and so is a character with the
/// combining marks after it.
pub fn terminal_clipped(text: &str, width: usize) -> String {
    let safe = terminal(text);
    if safe.chars().map(columns).sum::<usize>() <= width {
        return safe.into_owned();
    }
    let room = width.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        piece.clear();
        if unsafe_for_terminal(c) {
            shown(c, &mut piece);
        } else {
            piece.push(c);
            // marks that combine with this character go with it
            while let Some(&next) = chars.peek() {
                if unsafe_for_terminal(next) || columns(next) != 0 {
                    break;
                }
                piece.push(next);
                chars.next();
            }
        }
        let n: usize = piece.chars().map(columns).sum();
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
    let used: usize = cell.chars().map(columns).sum();
    cell.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    cell
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
        assert_eq!(width("漢\u{1b}"), 6);
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
            'a', 'Z', '0', ' ', '\\', '"', '\'', '[', '\u{0}', '\u{7}', '\u{8}', '\t', '\n', '\r',
            '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9b}', '\u{9f}', '\u{61c}', '\u{200e}',
            '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', 'é', '漢', '\u{301}', '✓',
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
            let width = rng.below(30) + 1;
            let clipped = terminal_clipped(&text, width);
            assert!(
                clipped.chars().map(columns).sum::<usize>() <= width.max(1),
                "{text:?} at {width} -> {clipped:?}"
            );
            let cell = terminal_cell(&text, width);
            assert_eq!(
                cell.chars().map(columns).sum::<usize>(),
                width,
                "{text:?} at {width} -> {cell:?}"
            );
            assert!(!clipped.chars().any(unsafe_for_terminal), "{clipped:?}");
            // What is kept is the rendering of a beginning of the text: whole escapes only.
            let kept = clipped.strip_suffix('…').unwrap_or(&clipped);
            let whole = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .any(|i| terminal(&text[..i]) == kept);
            assert!(whole, "{kept:?} splits an escape of {safe:?}");
        }
    }
}
