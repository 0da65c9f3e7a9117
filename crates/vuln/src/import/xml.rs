//! A streaming walk over an XML report (quick-xml): element starts with their attributes, text
//! with references resolved, element ends. Text longer than [`TEXT_LIMIT`] is cut, so one enormous
//! element (a plugin's output) cannot hold memory.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::VulnError;

/// The most text kept of one element.
pub(super) const TEXT_LIMIT: usize = 64 * 1024;

/// What the walk sees.
pub(super) enum Node<'a> {
    Start(&'a str, &'a BytesStart<'a>),
    /// The text of the element just ended (all of its direct text, references resolved).
    End(&'a str, &'a str),
}

/// Walks a document, calling `visit` for each element start and end. An XML error stops the walk
/// with the byte where it was found.
pub(super) fn walk(
    name: &str,
    reader: impl BufRead,
    mut visit: impl FnMut(Node<'_>) -> Result<(), VulnError>,
) -> Result<(), VulnError> {
    let mut reader = Reader::from_reader(reader);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = true;
    let mut buf = Vec::new();
    // Each open element with its own direct text so far.
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut scratch = String::new();
    loop {
        let position = reader.buffer_position();
        let broken = |e: &dyn std::fmt::Display| VulnError::Format {
            file: name.to_string(),
            reason: format!("XML broken at byte {position}: {e}"),
        };
        let event = reader.read_event_into(&mut buf).map_err(|e| broken(&e))?;
        match event {
            Event::Start(start) => {
                let tag = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                visit(Node::Start(&tag, &start))?;
                stack.push((tag, String::new()));
            }
            Event::End(_) => {
                let (tag, text) = stack.pop().unwrap_or_default();
                visit(Node::End(&tag, text.trim()))?;
            }
            Event::Text(t) => {
                let decoded = t.xml_content().map_err(|e| broken(&e))?;
                push(
                    stack.last_mut().map_or(&mut scratch, |e| &mut e.1),
                    &decoded,
                );
            }
            Event::CData(t) => {
                let decoded = t.decode().map_err(|e| broken(&e))?;
                push(
                    stack.last_mut().map_or(&mut scratch, |e| &mut e.1),
                    &decoded,
                );
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| broken(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| broken(&e))?;
                        match name.as_ref() {
                            "amp" => "&".to_string(),
                            "lt" => "<".to_string(),
                            "gt" => ">".to_string(),
                            "quot" => "\"".to_string(),
                            "apos" => "'".to_string(),
                            other => format!("&{other};"),
                        }
                    }
                };
                push(
                    stack.last_mut().map_or(&mut scratch, |e| &mut e.1),
                    &resolved,
                );
            }
            Event::Eof => {
                if let Some((open, _)) = stack.last() {
                    return Err(broken(&format!("the file ends inside <{open}>")));
                }
                return Ok(());
            }
            _ => {}
        }
        scratch.clear();
        buf.clear();
    }
}

fn push(text: &mut String, more: &str) {
    if text.len() >= TEXT_LIMIT {
        return;
    }
    let room = TEXT_LIMIT - text.len();
    if more.len() <= room {
        text.push_str(more);
    } else {
        let mut cut = room;
        while !more.is_char_boundary(cut) {
            cut -= 1;
        }
        text.push_str(&more[..cut]);
        text.push_str(" [cut]");
    }
}

/// An attribute's value, references resolved (`None` when absent or broken).
pub(super) fn attribute(start: &BytesStart<'_>, name: &str) -> Option<String> {
    let attr = start.try_get_attribute(name).ok()??;
    attr.unescape_value().ok().map(|v| v.trim().to_string())
}
