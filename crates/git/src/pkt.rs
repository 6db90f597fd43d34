//! git's pkt-line framing (protocol v2 requests and replies): four hex digits of length, its own
//! four included, then the payload; `0000` flushes, `0001` delimits sections.

use std::io::BufRead;

/// Appends one pkt-line carrying `payload` to `out`.
pub(crate) fn write(out: &mut Vec<u8>, payload: &str) {
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload.as_bytes());
}

/// One pkt-line read.
pub(crate) enum Packet {
    Flush,
    Delimiter,
    Data(Vec<u8>),
}

/// Reads the next pkt-line from `reader`.
pub(crate) fn read(reader: &mut impl BufRead) -> Result<Packet, String> {
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length)
        .map_err(|e| format!("reply ended early: {e}"))?;
    let length = std::str::from_utf8(&length)
        .ok()
        .and_then(|text| usize::from_str_radix(text, 16).ok())
        .ok_or("not a pkt-line")?;
    match length {
        0 => Ok(Packet::Flush),
        1 => Ok(Packet::Delimiter),
        2 | 3 => Err(format!("unexpected pkt-line {length:04x}")),
        _ => {
            let mut data = vec![0u8; length - 4];
            reader
                .read_exact(&mut data)
                .map_err(|e| format!("reply ended early: {e}"))?;
            Ok(Packet::Data(data))
        }
    }
}
