//! `multipart/form-data` as the SDKs really send it to the media upload
//! endpoints (§9.1): with or without a `boundary` parameter (wechatpayv3
//! sends none, so the boundary is read from the body's first line), part
//! headers with trailing semicolons or unquoted values, any part content
//! type, a file part with or without a `filename`. Chunked transfer is the
//! HTTP layer's business; this sees the whole body.

/// One part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Why a body is not multipart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the body does not start with a multipart boundary")]
    NoBoundary,
    #[error("a part has no headers or no name")]
    BadPart,
    #[error("the closing boundary is missing")]
    Unterminated,
}

/// The `boundary` parameter of a `Content-Type`, if any.
fn boundary_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// Splits `body` into parts; the boundary comes from `content_type` or,
/// failing that, from the first line of the body.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = match content_type.and_then(boundary_param).filter(|b| !b.is_empty()) {
        Some(b) => b,
        None => {
            // `--<boundary>\r\n` (or `\n`) on the first line.
            let start = body.strip_prefix(b"--").ok_or(MultipartError::NoBoundary)?;
            let end = start.iter().position(|&c| c == b'\r' || c == b'\n').ok_or(MultipartError::NoBoundary)?;
            String::from_utf8(start[..end].to_vec()).map_err(|_| MultipartError::NoBoundary)?
        }
    };
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(MultipartError::NoBoundary);
    }
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0).ok_or(MultipartError::NoBoundary)?;
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        // The rest of the boundary line.
        let line_end = find(body, b"\n", at).ok_or(MultipartError::Unterminated)? + 1;
        let next = find(body, delimiter, line_end).ok_or(MultipartError::Unterminated)?;
        // The part ends before the CRLF (or LF) preceding the next delimiter.
        let mut content_end = next;
        if content_end > line_end && body[content_end - 1] == b'\n' {
            content_end -= 1;
            if content_end > line_end && body[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        parts.push(part(&body[line_end..content_end])?);
        at = next;
    }
}

fn part(raw: &[u8]) -> Result<Part, MultipartError> {
    let (head_end, body_start) = match find(raw, b"\r\n\r\n", 0) {
        Some(i) => (i, i + 4),
        None => find(raw, b"\n\n", 0).map(|i| (i, i + 2)).ok_or(MultipartError::BadPart)?,
    };
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| MultipartError::BadPart)?;
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in head.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                for param in value.split(';').skip(1) {
                    let Some((k, v)) = param.split_once('=') else { continue };
                    let v = v.trim().trim_matches('"').to_owned();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
            "content-type" => content_type = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Ok(Part {
        name: name.filter(|n| !n.is_empty()).ok_or(MultipartError::BadPart)?,
        filename,
        content_type,
        data: raw[body_start..].to_vec(),
    })
}

/// What the bytes of a file are, by their magic numbers: the content type
/// the upload endpoints accept, or `None`.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"BM") && data.len() > 14 {
        Some("image/bmp")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if data.get(4..8) == Some(b"ftyp") {
        Some("video/mp4")
    } else if starts(b"RIFF") && data.get(8..12) == Some(b"AVI ") {
        Some("video/x-msvideo")
    } else if starts(b"\x1A\x45\xDF\xA3") {
        Some("video/x-matroska")
    } else if starts(b"FLV") {
        Some("video/x-flv")
    } else if starts(b"\x30\x26\xB2\x75\x8E\x66\xCF\x11") {
        Some("video/x-ms-wmv")
    } else if starts(b"\x00\x00\x01\xBA") || starts(b".RMF") {
        Some("video/mpeg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"{"filename":"a.jpg","sha256":"x"}"#;

    fn body(boundary: &str, meta_head: &str, file_head: &str) -> Vec<u8> {
        let mut b =
            format!("--{boundary}\r\n{meta_head}\r\n\r\n{META}\r\n--{boundary}\r\n{file_head}\r\n\r\n").into_bytes();
        b.extend(b"\xFF\xD8\xFF\xE0rest\r\nof\r\n--not-a-boundary");
        b.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        b
    }

    #[test]
    fn the_boundary_comes_from_the_header_or_the_first_line() {
        let b = body(
            "XyZ",
            "Content-Disposition: form-data; name=\"meta\"",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpg",
        );
        for ct in [
            Some("multipart/form-data; boundary=XyZ"),
            Some("multipart/form-data"),
            None,
            Some("multipart/form-data; boundary=\"XyZ\""),
        ] {
            let parts = parse(ct, &b).unwrap_or_else(|e| panic!("{ct:?}: {e}"));
            assert_eq!(parts.len(), 2);
            assert_eq!((parts[0].name.as_str(), parts[0].data.as_slice()), ("meta", META.as_bytes()));
            assert_eq!(parts[1].filename.as_deref(), Some("a.jpg"));
            assert!(parts[1].data.ends_with(b"--not-a-boundary"), "a boundary-like line inside the file is kept");
            assert_eq!(sniff(&parts[1].data), Some("image/jpeg"));
        }
    }

    #[test]
    fn header_quirks_of_other_sdks() {
        // Go: trailing semicolon, JSON content type; axios: octet-stream meta, no filename.
        let b = body(
            "go-boundary",
            "Content-Disposition: form-data; name=\"meta\";\r\nContent-Type: application/json",
            "Content-Disposition: form-data; name=file\r\nContent-Type: application/octet-stream",
        );
        let parts = parse(Some("multipart/form-data; boundary=go-boundary"), &b).unwrap();
        assert_eq!(parts[0].name, "meta");
        assert_eq!(parts[1].name, "file");
        assert_eq!(parts[1].filename, None);
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        for raw in
            [&b""[..], b"--", b"--x", b"--x\r\n", b"--x\r\nno headers", b"--x\r\n\r\n\r\ndata\r\n--x--", b"garbage"]
        {
            let _ = parse(Some("multipart/form-data"), raw);
            let _ = parse(None, raw);
        }
        assert_eq!(
            parse(None, b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv"),
            Err(MultipartError::Unterminated)
        );
    }
}
