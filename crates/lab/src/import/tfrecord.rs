//! The two wire formats under a TensorBoard event file: TFRecord framing
//! with masked CRC32C checksums, and the protobuf encoding of the `Event`
//! messages inside — only the few fields scalars need, read by hand so the
//! workspace needs no protobuf crate.
//!
//! A record is `u64 length (LE) | u32 masked crc32c(length bytes) | data |
//! u32 masked crc32c(data)`.

use std::io::Read;

/// The CRC32C (Castagnoli) lookup table, reflected polynomial 0x82F63B78.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TFRecord's masked CRC: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Why the records of a file cannot be read.
#[derive(Debug)]
pub enum RecordError {
    /// The bytes are not a valid record: a checksum does not match.
    Corrupt {
        /// 0-based index of the record, and the byte offset of its start.
        index: usize,
        offset: u64,
        message: String,
    },
    /// Reading the file failed.
    Io(std::io::Error),
}

/// A last record cut short, as a writer that is still running (or was
/// killed) leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct TruncatedTail {
    pub index: usize,
    pub offset: u64,
    /// Bytes present, and bytes the record needs.
    pub have: u64,
    pub need: u64,
}

/// Reads up to `buf.len()` bytes; fewer only at the end of the input.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Calls `each(index, offset, data)` for every record of `r`, checking both
/// checksums of each. A record cut short at the end of the input is not an
/// error: it is returned as the [`TruncatedTail`]. `len` is the input's
/// length in bytes (a length field beyond it marks the tail as truncated
/// without allocating the claimed size).
pub fn for_each_record<R: Read, E>(
    mut r: R,
    len: u64,
    mut each: impl FnMut(usize, u64, &[u8]) -> Result<(), E>,
) -> Result<Result<Option<TruncatedTail>, RecordError>, E> {
    let mut offset = 0u64;
    let mut index = 0usize;
    let mut data = Vec::new();
    loop {
        let mut header = [0u8; 12];
        let got = match read_full(&mut r, &mut header) {
            Ok(g) => g,
            Err(e) => return Ok(Err(RecordError::Io(e))),
        };
        if got == 0 {
            return Ok(Ok(None));
        }
        if got < header.len() {
            return Ok(Ok(Some(TruncatedTail {
                index,
                offset,
                have: got as u64,
                need: 16,
            })));
        }
        let len_bytes: [u8; 8] = header[..8].try_into().expect("8 bytes");
        let stored = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
        if masked_crc32c(&len_bytes) != stored {
            return Ok(Err(RecordError::Corrupt {
                index,
                offset,
                message: "the checksum of the length field does not match (corrupt file, or not a TFRecord file)".into(),
            }));
        }
        let n = u64::from_le_bytes(len_bytes);
        let need = 16 + n;
        if offset.saturating_add(need) > len {
            return Ok(Ok(Some(TruncatedTail {
                index,
                offset,
                have: len - offset,
                need,
            })));
        }
        data.resize(n as usize + 4, 0);
        let got = match read_full(&mut r, &mut data) {
            Ok(g) => g,
            Err(e) => return Ok(Err(RecordError::Io(e))),
        };
        if got < data.len() {
            // the file shrank while being read: as good as a truncated tail
            return Ok(Ok(Some(TruncatedTail {
                index,
                offset,
                have: 12 + got as u64,
                need,
            })));
        }
        let (payload, crc) = data.split_at(n as usize);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if masked_crc32c(payload) != stored {
            return Ok(Err(RecordError::Corrupt {
                index,
                offset,
                message: format!(
                    "the checksum of the {n}-byte record does not match its data (corrupt or truncated record)"
                ),
            }));
        }
        each(index, offset, payload)?;
        offset += need;
        index += 1;
    }
}

/// One field of a protobuf message, by wire type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of a protobuf message, in order: `(field number, value)`.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        read_varint(self.buf, &mut self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "a field of {n} bytes at byte {} runs past the end of its {}-byte message",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

/// Reads a base-128 varint at `*pos`.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(format!("a varint runs past the end at byte {}", *pos));
        };
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(format!(
        "a varint longer than 10 bytes ends at byte {}",
        *pos
    ))
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let item = (|| {
            let key = self.varint()?;
            let field = (key >> 3) as u32;
            let value = match key & 7 {
                0 => Wire::Varint(self.varint()?),
                1 => Wire::Fixed64(u64::from_le_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                )),
                2 => {
                    let n = self.varint()?;
                    Wire::Bytes(self.take(usize::try_from(n).map_err(|_| "length overflows")?)?)
                }
                5 => Wire::Fixed32(u32::from_le_bytes(
                    self.take(4)?.try_into().expect("4 bytes"),
                )),
                t => return Err(format!("unsupported wire type {t} (field {field})")),
            };
            Ok((field, value))
        })();
        if item.is_err() {
            self.pos = self.buf.len();
        }
        Some(item)
    }
}

/// A numeric scalar of an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub tag: String,
    pub value: f64,
}

/// What an `Event` carries that an import uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub scalars: Vec<Scalar>,
    /// Tags of tensor values that are not numeric scalars (histograms,
    /// text, images): skipped.
    pub skipped: Vec<String>,
}

/// The plugins of tags, learned from the summary metadata that TF2 writes
/// with (only) the first value of each tag.
pub type Plugins = std::collections::HashMap<String, String>;

/// Decodes an `Event` (wall_time = 1, step = 2, summary = 5), keeping the
/// numeric scalars of its summary: `simple_value` (torch, tensorboardX) or
/// a one-element numeric `tensor` (TF2's `tf.summary.scalar`).
pub fn decode_event(data: &[u8], plugins: &mut Plugins) -> Result<Event, String> {
    let mut ev = Event::default();
    for f in Fields::new(data) {
        match f? {
            (1, Wire::Fixed64(v)) => ev.wall_time = f64::from_bits(v),
            (2, Wire::Varint(v)) => ev.step = v as i64,
            (5, Wire::Bytes(b)) => {
                decode_summary(b, plugins, &mut ev).map_err(|e| format!("in the summary: {e}"))?
            }
            (1 | 2 | 5, w) => return Err(format!("Event field has the wrong wire type: {w:?}")),
            _ => {}
        }
    }
    Ok(ev)
}

fn decode_summary(data: &[u8], plugins: &mut Plugins, ev: &mut Event) -> Result<(), String> {
    for f in Fields::new(data) {
        if let (1, Wire::Bytes(b)) = f? {
            decode_value(b, plugins, ev)?;
        }
    }
    Ok(())
}

/// A `Summary.Value`: tag = 1, simple_value = 2, tensor = 8, metadata = 9.
fn decode_value(data: &[u8], plugins: &mut Plugins, ev: &mut Event) -> Result<(), String> {
    let mut tag = None;
    let mut simple = None;
    let mut tensor = None;
    let mut plugin = None;
    for f in Fields::new(data) {
        match f? {
            (1, Wire::Bytes(b)) => tag = Some(String::from_utf8_lossy(b).into_owned()),
            (2, Wire::Fixed32(v)) => simple = Some(f32::from_bits(v)),
            (8, Wire::Bytes(b)) => tensor = Some(b),
            (9, Wire::Bytes(b)) => plugin = plugin_name(b)?,
            _ => {}
        }
    }
    let Some(tag) = tag else { return Ok(()) };
    if let Some(p) = plugin {
        plugins.insert(tag.clone(), p);
    }
    if let Some(v) = simple {
        ev.scalars.push(Scalar {
            tag,
            value: f64::from(v),
        });
    } else if let Some(t) = tensor {
        let is_scalar_plugin = plugins.get(&tag).is_none_or(|p| p == "scalars");
        match tensor_scalar(t)? {
            Some(value) if is_scalar_plugin => ev.scalars.push(Scalar { tag, value }),
            _ => ev.skipped.push(tag),
        }
    }
    Ok(())
}

/// `SummaryMetadata.plugin_data (1) . plugin_name (1)`.
fn plugin_name(data: &[u8]) -> Result<Option<String>, String> {
    for f in Fields::new(data) {
        if let (1, Wire::Bytes(pd)) = f? {
            for g in Fields::new(pd) {
                if let (1, Wire::Bytes(name)) = g? {
                    return Ok(Some(String::from_utf8_lossy(name).into_owned()));
                }
            }
        }
    }
    Ok(None)
}

const DT_FLOAT: u64 = 1;
const DT_DOUBLE: u64 = 2;
const DT_INT32: u64 = 3;
const DT_INT64: u64 = 9;

/// The value of a one-element numeric `TensorProto` (dtype = 1, shape = 2,
/// tensor_content = 4, float_val = 5, double_val = 6, int_val = 7,
/// int64_val = 10; the repeated fields packed or not), or `None` for any
/// other tensor (more elements, strings, other types).
pub fn tensor_scalar(data: &[u8]) -> Result<Option<f64>, String> {
    let mut dtype = 0;
    let mut elements: u64 = 1;
    let mut content: Option<&[u8]> = None;
    let mut vals: Vec<f64> = Vec::new();
    for f in Fields::new(data) {
        match f? {
            (1, Wire::Varint(v)) => dtype = v,
            (2, Wire::Bytes(shape)) => {
                for g in Fields::new(shape) {
                    if let (2, Wire::Bytes(dim)) = g? {
                        for h in Fields::new(dim) {
                            if let (1, Wire::Varint(size)) = h? {
                                elements = elements.saturating_mul(size);
                            }
                        }
                    }
                }
            }
            (4, Wire::Bytes(b)) => content = Some(b),
            (5, Wire::Fixed32(v)) => vals.push(f64::from(f32::from_bits(v))),
            (5, Wire::Bytes(b)) => vals.extend(
                b.chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4")))),
            ),
            (6, Wire::Fixed64(v)) => vals.push(f64::from_bits(v)),
            (6, Wire::Bytes(b)) => vals.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8"))),
            ),
            (7, Wire::Varint(v)) => vals.push(f64::from(v as i64 as i32)),
            (10, Wire::Varint(v)) => vals.push(v as i64 as f64),
            (7 | 10, Wire::Bytes(b)) => {
                let mut pos = 0;
                while pos < b.len() {
                    let v = read_varint(b, &mut pos)?;
                    vals.push(if dtype == DT_INT32 {
                        f64::from(v as i64 as i32)
                    } else {
                        v as i64 as f64
                    });
                }
            }
            _ => {}
        }
    }
    if elements != 1 || !matches!(dtype, DT_FLOAT | DT_DOUBLE | DT_INT32 | DT_INT64) {
        return Ok(None);
    }
    if let Some(b) = content {
        let v = match (dtype, b.len()) {
            (DT_FLOAT, 4) => f64::from(f32::from_le_bytes(b.try_into().expect("4"))),
            (DT_DOUBLE, 8) => f64::from_le_bytes(b.try_into().expect("8")),
            (DT_INT32, 4) => f64::from(i32::from_le_bytes(b.try_into().expect("4"))),
            (DT_INT64, 8) => i64::from_le_bytes(b.try_into().expect("8")) as f64,
            (_, n) => {
                return Err(format!(
                    "a scalar tensor of type {dtype} has {n} bytes of content"
                ))
            }
        };
        return Ok(Some(v));
    }
    Ok(vals.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_values() {
        // the CRC catalogue's check value, and RFC 3720's 32 zero bytes
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b""), 0);
    }

    fn record(data: &[u8]) -> Vec<u8> {
        let len = (data.len() as u64).to_le_bytes();
        let mut out = len.to_vec();
        out.extend(masked_crc32c(&len).to_le_bytes());
        out.extend(data);
        out.extend(masked_crc32c(data).to_le_bytes());
        out
    }

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Result<Option<TruncatedTail>, RecordError>) {
        let mut got = Vec::new();
        let r = for_each_record::<_, ()>(bytes, bytes.len() as u64, |_, _, d| {
            got.push(d.to_vec());
            Ok(())
        })
        .unwrap();
        (got, r)
    }

    #[test]
    fn records_are_read_and_checked() {
        let mut file = record(b"first");
        file.extend(record(b""));
        file.extend(record(b"third record"));
        let (got, r) = read_all(&file);
        assert_eq!(
            got,
            vec![b"first".to_vec(), vec![], b"third record".to_vec()]
        );
        assert!(matches!(r, Ok(None)));

        // a flipped byte in the second record's data (it has none: flip the third's)
        let mut bad = file.clone();
        let third = 21 + 16;
        bad[third + 12 + 2] ^= 0x20;
        let (got, r) = read_all(&bad);
        assert_eq!(got.len(), 2);
        match r {
            Err(RecordError::Corrupt { index, offset, .. }) => {
                assert_eq!((index, offset), (2, third as u64));
            }
            other => panic!("{other:?}"),
        }

        // a cut in the last record is a truncated tail, not an error
        let (got, r) = read_all(&file[..file.len() - 3]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            r.unwrap(),
            Some(TruncatedTail {
                index: 2,
                offset: third as u64,
                have: 16 + 12 - 3,
                need: 16 + 12,
            })
        );
        // ... also within its header
        let (_, r) = read_all(&file[..third + 5]);
        assert_eq!(r.unwrap().unwrap().have, 5);
    }

    #[test]
    fn varints_and_packed_tensors_decode() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut pos), Ok(300));
        // dtype DT_INT64, int64_val packed [-3]
        let mut t = vec![0x08, DT_INT64 as u8, 0x52, 10];
        t.extend([0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(tensor_scalar(&t), Ok(Some(-3.0)));
        // DT_DOUBLE in tensor_content
        let mut t = vec![0x08, DT_DOUBLE as u8, 0x22, 8];
        t.extend(2.5f64.to_le_bytes());
        assert_eq!(tensor_scalar(&t), Ok(Some(2.5)));
        // a shape of two elements is not a scalar
        let t = vec![0x08, 1, 0x12, 4, 0x12, 2, 0x08, 2];
        assert_eq!(tensor_scalar(&t), Ok(None));
        // a length past the end is an error
        assert!(Fields::new(&[0x22, 9, 1]).next().unwrap().is_err());
    }
}
