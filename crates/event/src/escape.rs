//! Text from logs made inert for where it is shown. Log text is attacker-controlled: every output that
//! puts it in a markup language goes through here.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped_and_the_rest_kept() {
        assert_eq!(
            html("<img src=x onerror='a(\"1\")'> & é"),
            "&lt;img src=x onerror=&#39;a(&quot;1&quot;)&#39;&gt; &amp; é"
        );
    }
}
