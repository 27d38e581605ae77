//! TEMPORARY stand-in with the contract's `tsdb_codec` chunk API (raw 16-byte
//! samples), so the head can be built and tested before the codec lands. Replaced
//! by `pub(crate) use tsdb_codec::{Chunk, ChunkEncoder};` on merge.
#![allow(missing_docs, dead_code)]

#[derive(Debug)]
pub struct CodecError(pub String);

#[derive(Default, Debug)]
pub struct ChunkEncoder {
    buf: Vec<u8>,
    n: usize,
    first: Option<i64>,
    last: Option<i64>,
}

impl ChunkEncoder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, t: i64, v: f64) -> Result<(), CodecError> {
        if self.last.is_some_and(|l| t <= l) {
            return Err(CodecError("out of order".into()));
        }
        self.buf.extend_from_slice(&t.to_le_bytes());
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
        self.n += 1;
        self.first.get_or_insert(t);
        self.last = Some(t);
        Ok(())
    }
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn first_time(&self) -> Option<i64> {
        self.first
    }
    pub fn last_time(&self) -> Option<i64> {
        self.last
    }
    pub fn size_bytes(&self) -> usize {
        self.buf.capacity()
    }
    pub fn snapshot(&self) -> Chunk {
        Chunk(self.buf.clone())
    }
    pub fn finish(self) -> Chunk {
        Chunk(self.buf)
    }
}

#[derive(Clone, Debug)]
pub struct Chunk(Vec<u8>);

impl Chunk {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Chunk, CodecError> {
        if !bytes.len().is_multiple_of(16) {
            return Err(CodecError("bad length".into()));
        }
        Ok(Chunk(bytes))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len() / 16
    }
    pub fn iter(&self) -> impl Iterator<Item = Result<(i64, f64), CodecError>> + '_ {
        self.0.chunks_exact(16).map(|c| {
            let mut t = [0u8; 8];
            let mut v = [0u8; 8];
            t.copy_from_slice(c.get(..8).unwrap_or(&[0; 8]));
            v.copy_from_slice(c.get(8..).unwrap_or(&[0; 8]));
            Ok((i64::from_le_bytes(t), f64::from_bits(u64::from_le_bytes(v))))
        })
    }
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), CodecError> {
        for s in self.iter() {
            let (t, v) = s?;
            ts.push(t);
            vs.push(v);
        }
        Ok(())
    }
}
