//! One large EVTX log for `bench ingest`, built from the corpus: the chunks of every sample, one after
//! another, with their records renumbered so the ids run on from chunk to chunk as in a real log, and
//! every CRC32 computed again (EVTX layout: a 4 KiB file header, then 64 KiB chunks, each with a 512-byte
//! header; records start with `**\0\0`, their size and their id).

use std::path::Path;

use anyhow::{bail, Context};
use secops_ingest::Input;

const FILE_HEADER: usize = 4096;
const CHUNK: usize = 65536;
const CHUNK_HEADER: usize = 512;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn put_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(data: &mut [u8], at: usize, value: u64) {
    data[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Renumbers the records of `chunk` from `next`; returns the id after its last, or `None` when the
/// chunk's records cannot be walked (it is then left out).
fn renumber(chunk: &mut [u8], next: u64) -> Option<u64> {
    let free = u32_at(chunk, 48)? as usize;
    if !(CHUNK_HEADER..=CHUNK).contains(&free) {
        return None;
    }
    let (mut at, mut id, mut last_offset) = (CHUNK_HEADER, next, 0);
    while at + 24 <= free && chunk[at..at + 4] == [0x2a, 0x2a, 0, 0] {
        let size = u32_at(chunk, at + 4)? as usize;
        if size < 28 || at + size > free {
            return None;
        }
        put_u64(chunk, at + 8, id);
        last_offset = at;
        id += 1;
        at += size;
    }
    if id == next {
        return None;
    }
    for offset in [8, 24] {
        put_u64(chunk, offset, next);
        put_u64(chunk, offset + 8, id - 1);
    }
    put_u32(chunk, 44, last_offset as u32);
    put_u32(chunk, 52, crc32fast::hash(&chunk[CHUNK_HEADER..free]));
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&chunk[..120]);
    hasher.update(&chunk[128..CHUNK_HEADER]);
    put_u32(chunk, 124, hasher.finalize());
    Some(id)
}

/// Writes the log to `dir`; returns it and how many chunks and records it holds.
pub(super) fn build(samples: &[Input], dir: &Path) -> anyhow::Result<(Input, usize, u64)> {
    let mut header: Option<Vec<u8>> = None;
    let mut body = Vec::new();
    let (mut chunks, mut next) = (0usize, 1u64);
    for input in samples {
        let Input::File(path) = input else { continue };
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        if bytes.len() < FILE_HEADER || !bytes.starts_with(b"ElfFile\0") {
            continue;
        }
        header.get_or_insert_with(|| bytes[..FILE_HEADER].to_vec());
        for chunk in bytes[FILE_HEADER..].chunks_exact(CHUNK) {
            if chunks == usize::from(u16::MAX) || !chunk.starts_with(b"ElfChnk\0") {
                continue;
            }
            let mut chunk = chunk.to_vec();
            if let Some(after) = renumber(&mut chunk, next) {
                next = after;
                chunks += 1;
                body.extend_from_slice(&chunk);
            }
        }
    }
    let Some(mut header) = header else {
        bail!("no EVTX file to build a log from");
    };
    put_u64(&mut header, 8, 0);
    put_u64(&mut header, 16, chunks as u64 - 1);
    put_u64(&mut header, 24, next);
    header[42..44].copy_from_slice(&(chunks as u16).to_le_bytes());
    put_u32(&mut header, 120, 0);
    let checksum = crc32fast::hash(&header[..120]);
    put_u32(&mut header, 124, checksum);
    let path = dir.join("large.evtx");
    header.extend_from_slice(&body);
    std::fs::write(&path, &header).with_context(|| path.display().to_string())?;
    Ok((Input::File(path), chunks, next - 1))
}
