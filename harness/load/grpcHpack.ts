// HPACK (RFC 7541) for the gRPC load driver's HTTP/2 client (grpcH2.ts): a full decoder
// (static and dynamic tables, Huffman strings), since every response header block must be
// decoded to keep the dynamic table in step with the server's encoder, and a request
// encoder that never indexes, so one request's header block is the same bytes every time
// and is built once per target.
//
// The Huffman code (RFC 7541 Appendix B) is canonical, so it is stored as its 257 code
// lengths (symbol 256 is EOS) and the codes are rebuilt from them; test/unit/grpc-hpack.test.ts
// checks the result against the RFC's examples and against what nghttp2 (node:http2) encodes.

/** RFC 7541 Appendix A: the static table, 1-based. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''], // index 0 is not used
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length - 1; // 61

// ---- Huffman code ----

/** Code length of symbol i (0–256), as the character code 48 + length. */
const HUFFMAN_LENGTHS =
  '=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN';
const EOS = 256;
const MAX_CODE_LENGTH = 30;

export interface HuffmanCode {
  /** Code and length of each symbol 0–256. */
  codes: Uint32Array;
  lengths: Uint8Array;
  /** Canonical decoding: per length, the first code, how many codes, where their symbols start. */
  firstCode: Float64Array;
  count: Uint32Array;
  offset: Uint32Array;
  /** Symbols ordered by (length, symbol). */
  symbols: Uint16Array;
}

function buildHuffmanCode(): HuffmanCode {
  const lengths = Uint8Array.from(HUFFMAN_LENGTHS, (c) => c.charCodeAt(0) - 48);
  const symbols = Uint16Array.from(Array.from({ length: 257 }, (_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b));
  const codes = new Uint32Array(257);
  const firstCode = new Float64Array(MAX_CODE_LENGTH + 1).fill(-1);
  const count = new Uint32Array(MAX_CODE_LENGTH + 1);
  const offset = new Uint32Array(MAX_CODE_LENGTH + 1);
  let code = 0;
  let previousLength = lengths[symbols[0]!]!;
  symbols.forEach((symbol, i) => {
    const length = lengths[symbol]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previousLength);
    previousLength = length;
    codes[symbol] = code;
    if (count[length] === 0) {
      firstCode[length] = code;
      offset[length] = i;
    }
    count[length]!++;
  });
  return { codes, lengths, firstCode, count, offset, symbols };
}

export const HUFFMAN: HuffmanCode = buildHuffmanCode();

/** Decodes a Huffman-coded string (latin1: one char per octet). */
export function huffmanDecode(bytes: Buffer, start = 0, end = bytes.length): string {
  const { firstCode, count, offset, symbols } = HUFFMAN;
  let out = '';
  let code = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const first = firstCode[length]!;
      if (first >= 0 && code - first < count[length]!) {
        const symbol = symbols[offset[length]! + code - first]!;
        if (symbol === EOS) throw new Error('HPACK: EOS inside a Huffman string');
        out += String.fromCharCode(symbol);
        code = 0;
        length = 0;
      } else if (length >= MAX_CODE_LENGTH) {
        throw new Error('HPACK: invalid Huffman code');
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (length > 7 || code !== 2 ** length - 1) throw new Error('HPACK: invalid Huffman padding');
  return out;
}

/** Huffman-encodes a string (latin1); the tests use it, the driver never does. */
export function huffmanEncode(text: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i) & 0xff;
    const length = HUFFMAN.lengths[symbol]!;
    const code = HUFFMAN.codes[symbol]!;
    for (let b = length - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) & 1);
      if (++bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}

// ---- integers and strings ----

/** Decodes an integer with an N-bit prefix at `offset`; returns [value, next offset]. */
export function decodeInteger(block: Buffer, offset: number, prefixBits: number): [number, number] {
  const max = (1 << prefixBits) - 1;
  let value = block[offset]! & max;
  offset++;
  if (value < max) return [value, offset];
  let scale = 1;
  for (;;) {
    if (offset >= block.length) throw new Error('HPACK: truncated integer');
    const byte = block[offset++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, offset];
    scale *= 128;
    if (scale > 2 ** 28) throw new Error('HPACK: integer too large');
  }
}

export function encodeInteger(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function decodeString(block: Buffer, offset: number): [string, number] {
  if (offset >= block.length) throw new Error('HPACK: truncated string');
  const huffman = (block[offset]! & 0x80) !== 0;
  const [length, start] = decodeInteger(block, offset, 7);
  const end = start + length;
  if (end > block.length) throw new Error('HPACK: truncated string');
  return [huffman ? huffmanDecode(block, start, end) : block.toString('latin1', start, end), end];
}

// ---- the decoder ----

export type HeaderSink = (name: string, value: string) => void;

export class HpackDecoder {
  /** Newest first. */
  private readonly dynamic: Array<[string, string]> = [];
  private size = 0;
  private maxSize: number;

  /** `settingsMaxSize`: the SETTINGS_HEADER_TABLE_SIZE this side advertised (default 4096). */
  constructor(private readonly settingsMaxSize = 4096) {
    this.maxSize = settingsMaxSize;
  }

  get tableSize(): number {
    return this.size;
  }

  get tableEntries(): number {
    return this.dynamic.length;
  }

  /** Decodes one complete header block, calling `sink` for each field in order. */
  decode(block: Buffer, sink: HeaderSink): void {
    let offset = 0;
    while (offset < block.length) {
      const byte = block[offset]!;
      if (byte & 0x80) {
        // Indexed header field.
        const [index, next] = decodeInteger(block, offset, 7);
        const [name, value] = this.entry(index);
        sink(name, value);
        offset = next;
      } else if (byte & 0x40) {
        // Literal with incremental indexing.
        const [name, value, next] = this.literal(block, offset, 6);
        this.add(name, value);
        sink(name, value);
        offset = next;
      } else if (byte & 0x20) {
        // Dynamic table size update.
        const [size, next] = decodeInteger(block, offset, 5);
        if (size > this.settingsMaxSize) throw new Error(`HPACK: table size ${size} above the advertised ${this.settingsMaxSize}`);
        this.maxSize = size;
        this.evict(0);
        offset = next;
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const [name, value, next] = this.literal(block, offset, 4);
        sink(name, value);
        offset = next;
      }
    }
  }

  private literal(block: Buffer, offset: number, prefixBits: number): [string, string, number] {
    const [index, afterIndex] = decodeInteger(block, offset, prefixBits);
    let name: string;
    let next: number;
    if (index === 0) [name, next] = decodeString(block, afterIndex);
    else [name, next] = [this.entry(index)[0], afterIndex];
    const [value, end] = decodeString(block, next);
    return [name, value, end];
  }

  private entry(index: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC_COUNT) return STATIC_TABLE[index]!;
    const entry = this.dynamic[index - STATIC_COUNT - 1];
    if (entry === undefined) throw new Error(`HPACK: index ${index} out of range`);
    return entry;
  }

  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    this.evict(entrySize);
    if (entrySize > this.maxSize) return; // an entry larger than the table empties it
    this.dynamic.unshift([name, value]);
    this.size += entrySize;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.size -= name.length + value.length + 32;
    }
  }
}

// ---- the request encoder ----

/**
 * Encodes header fields without touching the dynamic table: a full static match is indexed,
 * a static name gets a literal value, anything else literal name and value (no Huffman), so
 * the block does not depend on what was sent before.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    let nameIndex = 0;
    let fullIndex = 0;
    for (let i = 1; i <= STATIC_COUNT; i++) {
      const [n, v] = STATIC_TABLE[i]!;
      if (n !== name) continue;
      if (nameIndex === 0) nameIndex = i;
      if (v === value) {
        fullIndex = i;
        break;
      }
    }
    if (fullIndex > 0) {
      out.push(...encodeInteger(fullIndex, 7, 0x80));
      continue;
    }
    out.push(...encodeInteger(nameIndex, 4, 0x00));
    if (nameIndex === 0) pushString(out, name);
    pushString(out, value);
  }
  return Buffer.from(out);
}

function pushString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  out.push(...encodeInteger(bytes.length, 7, 0x00), ...bytes);
}
