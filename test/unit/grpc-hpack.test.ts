// HPACK for the gRPC driver's HTTP/2 client: the Huffman code rebuilt from its lengths, the
// RFC 7541 examples, and the request encoder read back by the decoder.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  HUFFMAN, HpackDecoder, decodeInteger, encodeHeaderBlock, encodeInteger, huffmanDecode, huffmanEncode,
} from '../../harness/load/grpcHpack.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  decoder.decode(block, (name, value) => fields.push([name, value]));
  return fields;
}

describe('HPACK Huffman code', () => {
  test('a complete prefix code (Kraft sum 1) with the RFC 7541 Appendix B codes', () => {
    let kraft = 0;
    for (let s = 0; s <= 256; s++) kraft += 2 ** -HUFFMAN.lengths[s]!;
    assert.equal(kraft, 1);
    const code = (ch: string): [number, number] => [HUFFMAN.codes[ch.charCodeAt(0)]!, HUFFMAN.lengths[ch.charCodeAt(0)]!];
    assert.deepEqual(code('0'), [0x0, 5]);
    assert.deepEqual(code(' '), [0x14, 6]);
    assert.deepEqual(code(':'), [0x5c, 7]);
    assert.deepEqual(code('X'), [0xfc, 8]);
    assert.deepEqual(code('\\'), [0x7fff0, 19]);
    assert.deepEqual([HUFFMAN.codes[0], HUFFMAN.lengths[0]], [0x1ff8, 13]);
    assert.deepEqual([HUFFMAN.codes[255], HUFFMAN.lengths[255]], [0x3ffffee, 26]);
    assert.deepEqual([HUFFMAN.codes[256], HUFFMAN.lengths[256]], [0x3fffffff, 30]); // EOS
  });

  test('RFC 7541 C.4 strings', () => {
    for (const [text, coded] of [
      ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
      ['no-cache', 'a8eb 1064 9cbf'],
      ['custom-key', '25a8 49e9 5ba9 7d7f'],
      ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ] as const) {
      assert.deepEqual(huffmanEncode(text), hex(coded), text);
      assert.equal(huffmanDecode(hex(coded)), text);
    }
  });

  test('every octet round-trips; bad padding and EOS are refused', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    assert.equal(huffmanDecode(huffmanEncode(all)), all);
    for (let i = 0; i < 256; i++) assert.equal(huffmanDecode(huffmanEncode(String.fromCharCode(i, i, i))), String.fromCharCode(i, i, i));
    // '0' is 00000: pad with ones → 0x07; pad with zeros → invalid.
    assert.equal(huffmanDecode(Buffer.from([0x07])), '0');
    assert.throws(() => huffmanDecode(Buffer.from([0x00])), /padding/);
    assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), /EOS|invalid/);
  });
});

describe('HPACK integers', () => {
  test('RFC 7541 C.1: 10 and 1337 with a 5-bit prefix, 42 with 8 bits', () => {
    assert.deepEqual(encodeInteger(10, 5, 0), [0x0a]);
    assert.deepEqual(encodeInteger(1337, 5, 0), [0x1f, 0x9a, 0x0a]);
    assert.deepEqual(encodeInteger(42, 8, 0), [0x2a]);
    assert.deepEqual(decodeInteger(Buffer.from([0x1f, 0x9a, 0x0a]), 0, 5), [1337, 3]);
    assert.deepEqual(decodeInteger(Buffer.from([0xea]), 0, 5), [10, 1]);
  });
});

describe('HPACK decoder', () => {
  test('RFC 7541 C.2: literal with and without indexing, indexed', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
    assert.equal(decoder.tableSize, 55);
    assert.deepEqual(decodeAll(decoder, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.deepEqual(decodeAll(decoder, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.deepEqual(decodeAll(decoder, hex('82')), [[':method', 'GET']]);
    assert.equal(decoder.tableEntries, 1);
  });

  test('RFC 7541 C.3 and C.4: three requests sharing a dynamic table, plain and Huffman', () => {
    for (const blocks of [
      [
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ],
      [
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ],
    ]) {
      const decoder = new HpackDecoder();
      assert.deepEqual(decodeAll(decoder, hex(blocks[0]!)), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
      assert.equal(decoder.tableSize, 57);
      assert.deepEqual(decodeAll(decoder, hex(blocks[1]!)), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
      assert.equal(decoder.tableSize, 110);
      assert.deepEqual(decodeAll(decoder, hex(blocks[2]!)), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
      assert.equal(decoder.tableSize, 164);
      assert.equal(decoder.tableEntries, 3);
    }
  });

  test('eviction at the table size, size updates, and an out-of-range index', () => {
    const decoder = new HpackDecoder(100);
    decodeAll(decoder, encodeWithIndexing('a', 'x'.repeat(30))); // 63 octets
    decodeAll(decoder, encodeWithIndexing('b', 'y'.repeat(30))); // 63: evicts a
    assert.equal(decoder.tableEntries, 1);
    assert.deepEqual(decodeAll(decoder, Buffer.from([0xbe])), [['b', 'y'.repeat(30)]]);
    assert.deepEqual(decodeAll(decoder, Buffer.from([0x20])), []); // size update to 0 empties it
    assert.equal(decoder.tableEntries, 0);
    assert.throws(() => decodeAll(decoder, Buffer.from([0xbe])), /out of range/);
    assert.throws(() => decodeAll(decoder, Buffer.from([0x3f, 0xe1, 0x1f])), /above the advertised/); // 4096 > 100
  });

  test('the request encoder never indexes: the same block decodes the same, every time', () => {
    const fields: Array<[string, string]> = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/meshbench.v1.Bench/Unary'],
      [':authority', '198.19.0.1:80'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ];
    const block = encodeHeaderBlock(fields);
    assert.equal(block[0], 0x83); // :method POST, static index 3
    assert.equal(block[1], 0x86); // :scheme http, static index 6
    const decoder = new HpackDecoder();
    for (let i = 0; i < 3; i++) assert.deepEqual(decodeAll(decoder, block), fields);
    assert.equal(decoder.tableEntries, 0);
  });
});

/** A literal with incremental indexing and a literal name (no Huffman). */
function encodeWithIndexing(name: string, value: string): Buffer {
  return Buffer.from([0x40, name.length, ...Buffer.from(name), value.length, ...Buffer.from(value)]);
}
