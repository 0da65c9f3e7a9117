//! A JSON document that spans lines, read as it arrives: each character is looked at once by a small
//! state machine of JSON's structure (containers, strings, scalars, where commas and colons may go), so
//! a document costs time in proportion to its size whatever its shape, and a structural error is found
//! on the line it is on. The elements of a top-level array, or of the `Records` array of a top-level
//! object (CloudTrail), are handed over one by one as each closes: such a document can be any size and
//! only one element is held at a time. Any other document is kept whole, up to a limit.

/// Elements and other documents larger than this are rejected (and skipped, not buffered).
pub(crate) const MAX_DOCUMENT: usize = 256 * 1024 * 1024;

/// The key of CloudTrail's array of records.
const RECORDS: &str = "Records";

/// Containers nested deeper than this end the document: no record is that deep.
const MAX_DEPTH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// What may come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (after `:` or `,` in an array, or at the very start).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrEnd,
    /// A key or `}` (just after `{`).
    KeyOrEnd,
    /// A key (after `,` in an object).
    Key,
    Colon,
    CommaOrEnd,
    /// The document has closed.
    Done,
}

/// What the reader makes of what it was fed.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// One element of a streamed array: its index and text (`None` when it was too large to keep).
    Element { index: u64, text: Option<String> },
    /// The whole document, when it was not streamed (`None` when too large).
    Whole(Option<String>),
}

/// Why a document stopped being read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Broken {
    /// The line the error is on.
    pub line: u64,
    /// Whether the error is at the line's start: that line may begin a record of its own.
    pub at_line_start: bool,
    pub reason: String,
}

#[derive(Debug)]
pub(crate) struct Document {
    /// The line the document starts on.
    pub start: u64,
    stack: Vec<Container>,
    expect: Expect,
    /// Inside a string: a key (with its text kept when it is a key of the top object), or a value.
    string: Option<StringKind>,
    escaped: bool,
    in_scalar: bool,
    /// The last key read at the top object's level: a `[` after `"Records":` starts streaming.
    last_key: String,
    /// Stream a top-level object's `Records` array (off for shapes that do not unwrap it).
    records_wrapper: bool,
    /// The depth whose values are handed over one by one (1: a top-level array; 2: `Records`).
    stream: Option<usize>,
    /// An array of the document has been streamed: the rest is its wrapper, not kept.
    streamed: bool,
    element: Option<String>,
    index: u64,
    /// The text of a document that is not streamed.
    whole: String,
    oversized: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum StringKind {
    Key(Option<String>),
    Value,
}

impl Document {
    /// A document starting on line `start`; `records_wrapper`: stream a top-level object's `Records`.
    pub fn new(start: u64, records_wrapper: bool) -> Self {
        Document {
            start,
            stack: Vec::new(),
            expect: Expect::Value,
            string: None,
            escaped: false,
            in_scalar: false,
            last_key: String::new(),
            records_wrapper,
            stream: None,
            streamed: false,
            element: None,
            index: 0,
            whole: String::new(),
            oversized: false,
        }
    }

    /// Whether the document has closed.
    pub fn done(&self) -> bool {
        self.expect == Expect::Done
    }

    /// Reads line `number` (a newline is added); complete elements and, at the end, the whole document
    /// go to `out`. Anything but whitespace after the document closes is an error.
    pub fn feed(
        &mut self,
        line: &str,
        number: u64,
        out: &mut dyn FnMut(Piece),
    ) -> Result<(), Broken> {
        for (at, c) in line
            .char_indices()
            .chain(std::iter::once((line.len(), '\n')))
        {
            self.step(c, out).map_err(|reason| Broken {
                line: number,
                at_line_start: line[..at].trim().is_empty(),
                reason,
            })?;
        }
        Ok(())
    }

    fn step(&mut self, c: char, out: &mut dyn FnMut(Piece)) -> Result<(), String> {
        if self.string.is_some() {
            let closing = !self.escaped && c == '"';
            // Only whether a top-level key is `Records` matters: a longer key need not be kept whole.
            if let Some(StringKind::Key(Some(key))) = &mut self.string {
                if !closing && key.len() <= RECORDS.len() {
                    key.push(c);
                }
            }
            self.keep(c);
            if closing {
                match self.string.take() {
                    Some(StringKind::Key(key)) => {
                        if let Some(key) = key {
                            self.last_key = key;
                        }
                        self.expect = Expect::Colon;
                    }
                    _ => self.value_ended(out),
                }
            } else if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '\n' {
                return Err("a string runs past the end of its line".into());
            }
            return Ok(());
        }
        if self.in_scalar {
            if c.is_whitespace() || matches!(c, ',' | ']' | '}' | ':') {
                self.in_scalar = false;
                self.value_ended(out);
            } else {
                self.keep(c);
                return Ok(());
            }
        }
        if c.is_whitespace() {
            if self.element.is_some() || self.stream.is_none() {
                self.keep(c);
            }
            return Ok(());
        }
        match (c, self.expect) {
            (_, Expect::Done) => return Err(format!("{c:?} after the document closed")),
            ('{' | '[', Expect::Value | Expect::ValueOrEnd) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(format!("nested deeper than {MAX_DEPTH} levels"));
                }
                let streams = !self.streamed
                    && c == '['
                    && (self.stack.is_empty()
                        || (self.records_wrapper
                            && self.stack == [Container::Object]
                            && self.last_key == RECORDS));
                if streams {
                    self.stream = Some(self.stack.len() + 1);
                    self.streamed = true;
                    self.whole = String::new();
                } else {
                    self.value_started();
                    self.keep(c);
                }
                if c == '{' {
                    self.stack.push(Container::Object);
                    self.expect = Expect::KeyOrEnd;
                } else {
                    self.stack.push(Container::Array);
                    self.expect = Expect::ValueOrEnd;
                }
            }
            ('}', Expect::KeyOrEnd | Expect::CommaOrEnd)
                if self.stack.last() == Some(&Container::Object) =>
            {
                self.close(c, out);
            }
            (']', Expect::ValueOrEnd | Expect::CommaOrEnd)
                if self.stack.last() == Some(&Container::Array) =>
            {
                self.close(c, out);
            }
            (':', Expect::Colon) => {
                self.keep(c);
                self.expect = Expect::Value;
            }
            (',', Expect::CommaOrEnd) => {
                if self.stream != Some(self.stack.len()) {
                    self.keep(c);
                }
                self.expect = match self.stack.last() {
                    Some(Container::Object) => Expect::Key,
                    _ => Expect::Value,
                };
            }
            ('"', Expect::Key | Expect::KeyOrEnd) => {
                self.keep(c);
                let top = self.stack.len() == 1;
                self.string = Some(StringKind::Key(top.then(String::new)));
            }
            ('"', Expect::Value | Expect::ValueOrEnd) => {
                self.value_started();
                self.keep(c);
                self.string = Some(StringKind::Value);
            }
            (c, Expect::Value | Expect::ValueOrEnd) if !matches!(c, ',' | ':' | ']' | '}') => {
                self.value_started();
                self.keep(c);
                self.in_scalar = true;
            }
            (c, expect) => return Err(format!("{c:?} where {} was expected", expected(expect))),
        }
        Ok(())
    }

    /// A value starts: at the streamed depth, it is a new element.
    fn value_started(&mut self) {
        if self.stream.is_some() && self.stream == Some(self.stack.len()) {
            self.element = Some(String::new());
            self.oversized = false;
        }
    }

    /// A value ended (a string, a scalar, or a container closing back to this depth).
    fn value_ended(&mut self, out: &mut dyn FnMut(Piece)) {
        if self.stream.is_some() && self.stream == Some(self.stack.len()) {
            if let Some(text) = self.element.take() {
                out(Piece::Element {
                    index: self.index,
                    text: (!self.oversized).then_some(text),
                });
                self.index += 1;
            }
        }
        if self.stack.is_empty() {
            self.expect = Expect::Done;
            if !self.streamed {
                let whole = std::mem::take(&mut self.whole);
                out(Piece::Whole((!self.oversized).then_some(whole)));
            }
        } else {
            self.expect = Expect::CommaOrEnd;
        }
    }

    fn close(&mut self, c: char, out: &mut dyn FnMut(Piece)) {
        if self.stream == Some(self.stack.len()) {
            // the streamed array itself closes
            self.stream = None;
        } else {
            self.keep(c);
        }
        self.stack.pop();
        self.value_ended(out);
    }

    /// Keeps a character of the current element, or of the whole document while nothing is streamed.
    fn keep(&mut self, c: char) {
        let text = match &mut self.element {
            Some(element) => element,
            None if !self.streamed => &mut self.whole,
            None => return,
        };
        if text.len() < MAX_DOCUMENT {
            text.push(c);
        } else {
            self.oversized = true;
        }
    }
}

fn expected(expect: Expect) -> &'static str {
    match expect {
        Expect::Value => "a value",
        Expect::ValueOrEnd => "a value or ']'",
        Expect::KeyOrEnd => "a key or '}'",
        Expect::Key => "a key",
        Expect::Colon => "':'",
        Expect::CommaOrEnd => "',' or the end of the container",
        Expect::Done => "nothing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, records: bool) -> (Vec<Piece>, Result<(), Broken>) {
        let mut doc = Document::new(1, records);
        let mut pieces = Vec::new();
        let mut result = Ok(());
        for (i, line) in text.lines().enumerate() {
            result = doc.feed(line, i as u64 + 1, &mut |p| pieces.push(p));
            if result.is_err() {
                break;
            }
        }
        (pieces, result)
    }

    fn element(index: u64, text: &str) -> Piece {
        Piece::Element {
            index,
            text: Some(text.to_string()),
        }
    }

    #[test]
    fn a_top_level_array_is_handed_over_element_by_element() {
        let (pieces, result) = read(
            "[\n{\n \"a\": [1, {\"b\": \"]}\"}]\n},\n\"x\", 3\n, null]",
            false,
        );
        assert_eq!(result, Ok(()));
        assert_eq!(
            pieces,
            [
                element(0, "{\n \"a\": [1, {\"b\": \"]}\"}]\n}"),
                element(1, "\"x\""),
                element(2, "3"),
                element(3, "null"),
            ]
        );
    }

    #[test]
    fn cloudtrail_records_are_streamed_and_other_objects_kept_whole() {
        let text = "{\n \"Records\": [\n  {\"eventName\": \"A\"},\n  {\"eventName\": \"B\"}\n ]\n}";
        let (pieces, result) = read(text, true);
        assert_eq!(result, Ok(()));
        assert_eq!(
            pieces,
            [
                element(0, "{\"eventName\": \"A\"}"),
                element(1, "{\"eventName\": \"B\"}")
            ]
        );
        // without unwrapping, or for another object, the document comes whole
        let (pieces, _) = read(text, false);
        assert!(matches!(&pieces[..], [Piece::Whole(Some(t))] if t.contains("\"B\"")));
        // only the key `Records` itself, not a longer one that starts with it
        let (pieces, _) = read("{\n \"RecordsOld\": [{\"a\": 1}]\n}", true);
        assert!(matches!(&pieces[..], [Piece::Whole(Some(_))]), "{pieces:?}");
        let (pieces, _) = read("{\n \"a\": {\"Records\": [1]}\n}", true);
        assert_eq!(
            pieces,
            [Piece::Whole(Some(
                "{\n \"a\": {\"Records\": [1]}\n}".into()
            ))]
        );
    }

    #[test]
    fn structural_errors_are_found_on_their_line() {
        let (_, result) = read("{\n \"a\": 1\n{\"b\": 2}", false);
        let broken = result.unwrap_err();
        assert_eq!((broken.line, broken.at_line_start), (3, true));
        assert!(
            broken.reason.contains("where ',' or the end"),
            "{}",
            broken.reason
        );
        let (_, result) = read("{\"a\": \"unterminated\n}", false);
        assert_eq!(result.unwrap_err().line, 1);
        let (_, result) = read("[1,\n]", false);
        assert!(result
            .unwrap_err()
            .reason
            .contains("where a value was expected"));
        let (_, result) = read("[1]\n[2]", false);
        assert!(result
            .unwrap_err()
            .reason
            .contains("after the document closed"));
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let deep = "[".repeat(MAX_DEPTH + 10);
        let (_, result) = read(&deep, false);
        assert!(result.unwrap_err().reason.contains("nested deeper"));
    }
}
