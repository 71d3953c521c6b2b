//! The manifest travels inside the component as a top-level custom section.
//!
//! One file means one content digest for code and manifest together, so hot
//! reload can never pair a new component with an old manifest, and the
//! section is added after any language's toolchain has produced the
//! component, so it works the same for Rust, Python and JavaScript.

use wasmparser::{Parser, Payload};

/// Name of the custom section holding the manifest's TOML text.
pub const SECTION_NAME: &str = "wasmvisor-manifest";

/// Why bytes could not be read as a component carrying a manifest.
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    /// Not wasm, or truncated.
    #[error("{0}")]
    Malformed(String),
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 (or run `wasm-tools component new`)"
    )]
    CoreModule,
    /// No manifest section.
    #[error(
        "the component carries no `{SECTION_NAME}` section; build it with `wasmvisor plugin build`, which embeds plugin.toml"
    )]
    Absent,
    /// More than one manifest section.
    #[error("the component carries {0} `{SECTION_NAME}` sections; expected one")]
    Duplicate(usize),
    /// The section is not UTF-8.
    #[error("the `{SECTION_NAME}` section is not UTF-8 text")]
    NotUtf8,
}

/// The top-level custom sections named [`SECTION_NAME`], with their byte
/// ranges, after checking that `bytes` is a component.
/// A manifest section: its byte range and its data.
type Found<'a> = (std::ops::Range<usize>, &'a [u8]);

fn manifest_sections(bytes: &[u8]) -> Result<Vec<Found<'_>>, SectionError> {
    let mut found = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| malformed(bytes, &e))? {
            Payload::Version { encoding, .. }
                if depth == 0 && encoding != wasmparser::Encoding::Component =>
            {
                return Err(SectionError::CoreModule);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(reader) if depth == 0 && reader.name() == SECTION_NAME => {
                found.push((reader.range(), reader.data()));
            }
            _ => {}
        }
    }
    Ok(found)
}

fn malformed(bytes: &[u8], e: &wasmparser::BinaryReaderError) -> SectionError {
    SectionError::Malformed(if bytes.starts_with(b"\0asm") {
        format!("malformed WebAssembly at byte {}: {}", e.offset(), e.message())
    } else {
        "not a WebAssembly binary: it does not start with the wasm magic bytes (\\0asm)".to_owned()
    })
}

/// Reads the manifest text embedded in a component.
pub fn extract(bytes: &[u8]) -> Result<&str, SectionError> {
    let sections = manifest_sections(bytes)?;
    match sections.as_slice() {
        [] => Err(SectionError::Absent),
        [(_, data)] => std::str::from_utf8(data).map_err(|_| SectionError::NotUtf8),
        many => Err(SectionError::Duplicate(many.len())),
    }
}

/// Returns `component` with `manifest` as its only manifest section,
/// replacing any earlier one (building twice gives the same bytes).
pub fn embed(component: &[u8], manifest: &str) -> Result<Vec<u8>, SectionError> {
    let existing = manifest_sections(component)?;
    let mut out = Vec::with_capacity(component.len() + manifest.len() + 32);
    let mut cursor = 0;
    for (range, _) in existing {
        // `range` covers the section's name and data; the id byte and the
        // size before it belong to the section too.
        let start = section_start(component, &range);
        out.extend_from_slice(&component[cursor..start]);
        cursor = range.end;
    }
    out.extend_from_slice(&component[cursor..]);
    let mut payload = Vec::new();
    write_leb(&mut payload, SECTION_NAME.len() as u64);
    payload.extend_from_slice(SECTION_NAME.as_bytes());
    payload.extend_from_slice(manifest.as_bytes());
    out.push(0); // custom section id
    write_leb(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Finds where the section whose content spans `content` begins: the id
/// byte `0` followed by a LEB128 size equal to the content's length.
fn section_start(bytes: &[u8], content: &std::ops::Range<usize>) -> usize {
    let mut size = Vec::new();
    write_leb(&mut size, (content.end - content.start) as u64);
    let id_at = content.start - size.len() - 1;
    debug_assert_eq!(bytes[id_at], 0);
    debug_assert_eq!(&bytes[id_at + 1..content.start], size.as_slice());
    id_at
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: magic, version 0x0d, layer 1.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
    const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn embed_then_extract_round_trips() {
        let with = embed(EMPTY_COMPONENT, "name = \"a\"").unwrap();
        assert_eq!(extract(&with).unwrap(), "name = \"a\"");
    }

    #[test]
    fn embedding_twice_replaces() {
        let once = embed(EMPTY_COMPONENT, "name = \"a\"").unwrap();
        let long = "x".repeat(300); // a two-byte LEB size
        let twice = embed(&once, &long).unwrap();
        assert_eq!(extract(&twice).unwrap(), long);
        let thrice = embed(&twice, "name = \"a\"").unwrap();
        assert_eq!(thrice, once);
    }

    #[test]
    fn missing_and_wrong_inputs_are_named() {
        assert!(matches!(extract(EMPTY_COMPONENT), Err(SectionError::Absent)));
        assert!(matches!(extract(CORE_MODULE), Err(SectionError::CoreModule)));
        assert!(matches!(extract(b"garbage!"), Err(SectionError::Malformed(_))));
    }
}
