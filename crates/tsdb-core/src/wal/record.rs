//! The WAL and checkpoint byte formats (drawn in `docs/format/wal.md`).
//!
//! A file starts with an 8-byte header (4-byte magic, `u32` format version) and
//! is followed by frames: `len: u32` (bytes of `body`), `crc: u32` (CRC32C of
//! `body`), `body = type: u8, payload`. All integers are little-endian.

/// Magic of a WAL segment file.
pub const SEGMENT_MAGIC: [u8; 4] = *b"TWAL";
/// Magic of a checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 4] = *b"TCKP";
/// Version of the WAL and checkpoint formats.
pub const WAL_FORMAT_VERSION: u32 = 1;
/// Bytes of the file header (magic and version).
pub const FILE_HEADER_LEN: usize = 8;
/// Bytes of a frame header (length and CRC).
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest frame body a reader accepts; a larger length is corruption.
pub const MAX_RECORD_BYTES: usize = 64 << 20;
/// Bytes of one sample entry: series id `u32`, timestamp `i64`, value bits `u64`.
pub const SAMPLE_ENTRY_LEN: usize = 20;

/// Frame body types.
pub mod kind {
    /// New series: `count: u32`, then `count` × (`id: u32`, `len: u32`, labels bytes).
    pub const SERIES: u8 = 1;
    /// Samples: `count: u32`, then `count` × (`id: u32`, `t: i64`, `v: u64` bits).
    pub const SAMPLES: u8 = 2;
    /// Checkpoint: one series with its head data (see `docs/format/wal.md`).
    pub const SERIES_SNAPSHOT: u8 = 3;
    /// Checkpoint: end marker, `series: u64` (how many snapshots precede it).
    pub const CHECKPOINT_END: u8 = 4;
}

/// The file header for `magic`.
pub(crate) fn file_header(magic: [u8; 4]) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    let v = WAL_FORMAT_VERSION.to_le_bytes();
    for (dst, src) in h.iter_mut().zip(magic.iter().chain(v.iter())) {
        *dst = *src;
    }
    h
}

/// Checks a file header; returns what is wrong.
pub(crate) fn check_file_header(bytes: &[u8], magic: [u8; 4]) -> Result<(), String> {
    let Some(h) = bytes.get(..FILE_HEADER_LEN) else {
        return Err(format!(
            "file shorter than its {FILE_HEADER_LEN}-byte header"
        ));
    };
    if h.get(..4) != Some(&magic[..]) {
        return Err("bad magic".to_string());
    }
    let version = read_u32(h, 4).unwrap_or(0);
    if version != WAL_FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {version} (this build reads {WAL_FORMAT_VERSION})"
        ));
    }
    Ok(())
}

/// Builds frames into a byte buffer.
#[derive(Default)]
pub(crate) struct FrameBuf {
    /// The encoded frames.
    pub bytes: Vec<u8>,
    start: usize,
}

impl FrameBuf {
    /// Starts a frame of type `kind`; write the payload with the `put_*` methods
    /// and close it with [`FrameBuf::end`].
    pub fn begin(&mut self, kind: u8) {
        self.start = self.bytes.len();
        self.bytes.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
        self.bytes.push(kind);
    }
    /// Fills in the frame header of the frame begun last.
    pub fn end(&mut self) {
        let body_start = self.start + FRAME_HEADER_LEN;
        let body = self.bytes.get(body_start..).unwrap_or_default();
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let crc = crc32c::crc32c(body);
        if let Some(h) = self.bytes.get_mut(self.start..self.start + 4) {
            h.copy_from_slice(&len.to_le_bytes());
        }
        if let Some(h) = self.bytes.get_mut(self.start + 4..body_start) {
            h.copy_from_slice(&crc.to_le_bytes());
        }
    }
    /// Appends a `u32`.
    pub fn put_u32(&mut self, x: u32) {
        self.bytes.extend_from_slice(&x.to_le_bytes());
    }
    /// Appends a `u64`.
    pub fn put_u64(&mut self, x: u64) {
        self.bytes.extend_from_slice(&x.to_le_bytes());
    }
    /// Appends an `i64`.
    pub fn put_i64(&mut self, x: i64) {
        self.bytes.extend_from_slice(&x.to_le_bytes());
    }
    /// Appends a `u32` length and the bytes.
    pub fn put_bytes(&mut self, b: &[u8]) {
        self.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.bytes.extend_from_slice(b);
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameError {
    /// Offset of the frame in the file.
    pub offset: u64,
    /// What was wrong.
    pub what: String,
}

/// One frame read from a buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    /// The frame type (see [`kind`]).
    pub kind: u8,
    /// The payload (the body after the type byte).
    pub payload: &'a [u8],
    /// Position of the next frame.
    pub next: usize,
}

/// Reads the frame at `pos`: `Ok(None)` at a clean end of the buffer.
pub(crate) fn read_frame(buf: &[u8], pos: usize) -> Result<Option<Frame<'_>>, FrameError> {
    let err = |what: String| FrameError {
        offset: pos as u64,
        what,
    };
    let rest = buf.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < FRAME_HEADER_LEN {
        return Err(err(format!("torn frame header ({} bytes)", rest.len())));
    }
    let len = read_u32(rest, 0).unwrap_or(0) as usize;
    let crc = read_u32(rest, 4).unwrap_or(0);
    if len == 0 || len > MAX_RECORD_BYTES {
        return Err(err(format!("bad frame length {len}")));
    }
    let Some(body) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Err(err(format!(
            "torn frame: length {len} but {} bytes left",
            rest.len() - FRAME_HEADER_LEN
        )));
    };
    let found = crc32c::crc32c(body);
    if found != crc {
        return Err(err(format!(
            "checksum mismatch: expected {crc:#010x}, found {found:#010x}"
        )));
    }
    let (kind, payload) = body
        .split_first()
        .ok_or_else(|| err("empty frame".into()))?;
    Ok(Some(Frame {
        kind: *kind,
        payload,
        next: pos + FRAME_HEADER_LEN + len,
    }))
}

/// Little-endian `u32` at `pos`.
pub(crate) fn read_u32(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// Little-endian `u64` at `pos`.
pub(crate) fn read_u64(b: &[u8], pos: usize) -> Option<u64> {
    let s = b.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// A cursor over a frame payload; every read fails softly on short input.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }
    /// Reads a `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        let x = read_u32(self.buf, self.pos)?;
        self.pos += 4;
        Some(x)
    }
    /// Reads a `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        let x = read_u64(self.buf, self.pos)?;
        self.pos += 8;
        Some(x)
    }
    /// Reads an `i64`.
    pub fn i64(&mut self) -> Option<i64> {
        self.u64().map(|x| x as i64)
    }
    /// Reads a `u32` length and that many bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        let s = self.buf.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }
    /// The unread rest.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Iterates the entries of a SAMPLES payload as `(id, t, v)`; `None` from
/// [`samples_payload`] if the payload's size does not match its count.
pub(crate) fn samples_payload(
    payload: &[u8],
) -> Option<impl Iterator<Item = (u32, i64, f64)> + '_> {
    let count = read_u32(payload, 0)? as usize;
    let body = payload.get(4..)?;
    if body.len() != count.checked_mul(SAMPLE_ENTRY_LEN)? {
        return None;
    }
    Some(body.chunks_exact(SAMPLE_ENTRY_LEN).map(|e| {
        let id = read_u32(e, 0).unwrap_or(0);
        let t = read_u64(e, 4).unwrap_or(0) as i64;
        let v = f64::from_bits(read_u64(e, 12).unwrap_or(0));
        (id, t, v)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_roundtrip_and_every_corruption_is_caught() {
        let mut fb = FrameBuf::default();
        fb.begin(kind::SAMPLES);
        fb.put_u32(1);
        fb.put_u32(7);
        fb.put_i64(-5);
        fb.put_u64(f64::NAN.to_bits() | 1);
        fb.end();
        let bytes = fb.bytes.clone();
        let Frame {
            kind: k,
            payload: p,
            next,
        } = read_frame(&bytes, 0).unwrap().unwrap();
        assert_eq!(k, kind::SAMPLES);
        assert_eq!(next, bytes.len());
        let s: Vec<_> = samples_payload(p).unwrap().collect();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, 7);
        assert_eq!(s[0].1, -5);
        assert_eq!(s[0].2.to_bits(), f64::NAN.to_bits() | 1);
        for cut in 1..bytes.len() {
            assert!(read_frame(&bytes[..cut], 0).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(read_frame(&b, 0).is_err(), "flip {i}");
        }
    }

    #[test]
    fn header_checks() {
        let h = file_header(SEGMENT_MAGIC);
        assert!(check_file_header(&h, SEGMENT_MAGIC).is_ok());
        assert!(check_file_header(&h, CHECKPOINT_MAGIC).is_err());
        assert!(check_file_header(&h[..5], SEGMENT_MAGIC).is_err());
    }
}
