// CRC-32 (IEEE 802.3, the one of zlib's `crc32`, reflected polynomial 0xEDB88320), table
// driven: the hash of an order book's checksum text (PROTOCOL.md §8, "Order books"). No
// state beyond the table, built once.

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

const encoder = new TextEncoder();

/** CRC-32 of `data`: a string (hashed as UTF-8; ASCII for checksum texts) or bytes. */
export function crc32(data) {
  let crc = 0xffffffff;
  if (typeof data === "string") {
    // ASCII (every checksum text) is its own UTF-8: hash the char codes, no copy.
    for (let i = 0; i < data.length; i++) {
      const c = data.charCodeAt(i);
      if (c > 0x7f) return crc32(encoder.encode(data));
      crc = TABLE[(crc ^ c) & 0xff] ^ (crc >>> 8);
    }
  } else {
    for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
