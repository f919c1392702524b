// The messages of meshbench.proto, encoded by hand: each has one or two scalar fields, the
// server answers with one prebuilt reply, and the drivers send one prebuilt request, so a
// protobuf runtime would only add work on the hot path. test/unit/grpc-messages.test.ts
// checks every function here against the .proto with protobufjs (@grpc/proto-loader).
//
// Also the gRPC wire framing (a 5-byte prefix per message: compressed flag, u32 length),
// which the HTTP/2 drivers and h2load's request body need.
import { fileURLToPath } from 'node:url';

export const BENCH_PROTO_PATH = fileURLToPath(new URL('./meshbench.proto', import.meta.url));
export const BENCH_SERVICE = 'meshbench.v1.Bench';
export const UNARY_PATH = `/${BENCH_SERVICE}/Unary`;
export const STREAM_PATH = `/${BENCH_SERVICE}/Stream`;
export const STATS_PATH = `/${BENCH_SERVICE}/Stats`;

export interface BenchRequest {
  /** Stream: replies to send (0 counts as 1). */
  messages: number;
  /** Non-zero: the server ends the call with this grpc-status. */
  status: number;
}

/** grpc-status codes the harness names (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GRPC_STATUS = { OK: 0, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, INTERNAL: 13, UNAVAILABLE: 14 } as const;
export const GRPC_STATUS_MAX = 16;

// ---- protobuf wire format: varints and length-delimited fields ----

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[offset++] = value;
  return offset;
}

function readVarint(buffer: Buffer, offset: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (offset >= buffer.length) throw new Error('truncated varint');
    const byte = buffer[offset++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, offset];
    scale *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Calls `field` for each (number, varint value | bytes) of a message; skips unknown wire types it can. */
function forEachField(buffer: Buffer, field: (n: number, value: number | Buffer) => void): void {
  let offset = 0;
  while (offset < buffer.length) {
    const [key, afterKey] = readVarint(buffer, offset);
    const n = Math.floor(key / 8);
    const wire = key & 7;
    offset = afterKey;
    if (wire === WIRE_VARINT) {
      const [value, next] = readVarint(buffer, offset);
      field(n, value);
      offset = next;
    } else if (wire === WIRE_LEN) {
      const [length, start] = readVarint(buffer, offset);
      if (start + length > buffer.length) throw new Error('truncated length-delimited field');
      field(n, buffer.subarray(start, start + length));
      offset = start + length;
    } else if (wire === WIRE_I64) {
      offset += 8;
    } else if (wire === WIRE_I32) {
      offset += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

function encodeVarintFields(fields: Array<[number, number]>): Buffer {
  // proto3: fields at their default (0) are not written.
  const present = fields.filter(([, v]) => v !== 0);
  const size = present.reduce((s, [n, v]) => s + varintLength(n * 8 + WIRE_VARINT) + varintLength(v), 0);
  const out = Buffer.alloc(size);
  let offset = 0;
  for (const [n, v] of present) {
    offset = writeVarint(out, offset, n * 8 + WIRE_VARINT);
    offset = writeVarint(out, offset, v);
  }
  return out;
}

function encodeBytesField(n: number, bytes: Buffer): Buffer {
  if (bytes.length === 0) return Buffer.alloc(0);
  const key = n * 8 + WIRE_LEN;
  const out = Buffer.alloc(varintLength(key) + varintLength(bytes.length) + bytes.length);
  let offset = writeVarint(out, 0, key);
  offset = writeVarint(out, offset, bytes.length);
  bytes.copy(out, offset);
  return out;
}

// ---- the messages ----

export function encodeBenchRequest(request: BenchRequest): Buffer {
  return encodeVarintFields([
    [1, request.messages],
    [2, request.status],
  ]);
}

export function decodeBenchRequest(buffer: Buffer): BenchRequest {
  const request: BenchRequest = { messages: 0, status: 0 };
  forEachField(buffer, (n, value) => {
    if (typeof value !== 'number') return;
    if (n === 1) request.messages = value;
    else if (n === 2) request.status = value;
  });
  return request;
}

/** A BenchReply whose payload is `payloadBytes` bytes of 'x'. */
export function encodeBenchReply(payloadBytes: number): Buffer {
  return encodeBytesField(1, Buffer.alloc(payloadBytes, 'x'));
}

/** The payload size of a BenchReply (the driver checks it, it does not copy it). */
export function benchReplyPayloadBytes(buffer: Buffer): number {
  let bytes = 0;
  forEachField(buffer, (n, value) => {
    if (n === 1 && typeof value !== 'number') bytes = value.length;
  });
  return bytes;
}

export function encodeStatsRequest(reset: boolean): Buffer {
  return encodeVarintFields([[1, reset ? 1 : 0]]);
}

export function decodeStatsRequest(buffer: Buffer): { reset: boolean } {
  let reset = false;
  forEachField(buffer, (n, value) => {
    if (n === 1 && typeof value === 'number') reset = value !== 0;
  });
  return { reset };
}

export function encodeStatsReply(json: string): Buffer {
  return encodeBytesField(1, Buffer.from(json, 'utf8'));
}

export function decodeStatsReply(buffer: Buffer): string {
  let json = '';
  forEachField(buffer, (n, value) => {
    if (n === 1 && typeof value !== 'number') json = value.toString('utf8');
  });
  return json;
}

// ---- gRPC length-prefixed framing ----

/** One gRPC message on the wire: flag 0 (not compressed), big-endian u32 length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * Counts the complete gRPC messages in a stream of DATA chunks, and the payload bytes of
 * each; the partial message at the end of a chunk is carried over to the next.
 */
export class GrpcMessageCounter {
  messages = 0;
  /** Bytes of message bodies (prefixes excluded). */
  bodyBytes = 0;
  /** Bytes still owed by the message in progress (its prefix counted when known). */
  private remaining = 0;
  private prefix = Buffer.alloc(5);
  private prefixHave = 0;

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= take;
        this.bodyBytes += take;
        offset += take;
        if (this.remaining === 0) this.messages++;
        continue;
      }
      const take = Math.min(5 - this.prefixHave, chunk.length - offset);
      chunk.copy(this.prefix, this.prefixHave, offset, offset + take);
      this.prefixHave += take;
      offset += take;
      if (this.prefixHave === 5) {
        this.prefixHave = 0;
        this.remaining = this.prefix.readUInt32BE(1);
        if (this.remaining === 0) this.messages++;
      }
    }
  }

  /** True when no message is half-received. */
  get complete(): boolean {
    return this.remaining === 0 && this.prefixHave === 0;
  }
}
