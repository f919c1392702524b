// A minimal HTTP/2 client connection (h2c, prior knowledge) for the gRPC load driver.
//
// Why not grpc-js or node:http2: measured here (unary calls, closed model, one process on
// one CPU against a server that is never the bottleneck), a grpc-js client costs ~350–400 µs
// of CPU per call (2.2–2.9 k calls/s), node:http2 with gRPC framing by hand ~170 µs (its
// per-stream machinery: a Duplex per stream, header objects, events), this client ~35–40 µs
// and h2load ~30–35 µs; a load driver is only as good as the rate it can offer
// (bench/driver.ts measures this client against h2load).
// This client does exactly what a gRPC load needs and no more:
// - a request is one write: HEADERS (a header block built once per target, never indexed, so
//   it is the same bytes every time) + DATA (the framed message, END_STREAM);
// - responses: HEADERS/CONTINUATION decoded with a full HPACK decoder (grpcHpack.ts), DATA
//   handed to the stream, RST_STREAM, SETTINGS (acked; MAX_CONCURRENT_STREAMS and
//   INITIAL_WINDOW_SIZE honoured), PING (answered), GOAWAY (streams above the last id fail),
//   WINDOW_UPDATE (the send window; requests wait while it is short);
// - receive flow control: windows opened to 2^31−1 at start and topped up per 1 GiB read, so
//   the server never waits for this client;
// - no TLS, no push (disabled), no priorities, no padding on send.
import net from 'node:net';
import { HpackDecoder } from './grpcHpack.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 } as const;
/** RST_STREAM error code CANCEL. */
export const H2_CANCEL = 0x8;
/** Stream ended because the connection went away (not an HTTP/2 error code). */
export const H2_CONNECTION_LOST = -1;
/** Stream refused by a GOAWAY before the server processed it (REFUSED_STREAM). */
export const H2_REFUSED_STREAM = 0x7;

const MAX_WINDOW = 0x7fffffff;
const DEFAULT_WINDOW = 65_535;
const RECEIVE_TOP_UP = 1 << 30;
const OUR_MAX_FRAME_SIZE = 16_384;
/** Highest client stream id; the connection stops opening streams before it. */
const MAX_STREAM_ID = 0x7fffffff;

/** What a stream's owner hears; one object per call (no closures per request). */
export interface H2StreamHandler {
  /** A decoded header block: fields as [name, value] pairs, in order. */
  onHeaders(fields: ReadonlyArray<readonly [string, string]>, endStream: boolean): void;
  onData(chunk: Buffer, endStream: boolean): void;
  /** The stream ended without END_STREAM: RST_STREAM code, H2_REFUSED_STREAM, or H2_CONNECTION_LOST. */
  onReset(code: number): void;
}

export interface H2ConnectionEvents {
  /** Settings exchanged (the server's first SETTINGS frame arrived). */
  onReady?(): void;
  /** The send window or stream limit grew: waiting requests may go now. */
  onWritable?(): void;
  /** The socket is gone; every open stream has been reset before this is called. */
  onClose?(error: Error | undefined): void;
}

export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const header = Buffer.allocUnsafe(9);
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return header;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(payload.length, type, flags, streamId), payload]);
}

/**
 * A request template: HEADERS (END_HEADERS) + DATA (END_STREAM) in one buffer, the stream id
 * patched in per request. `dataBytes` is what the request takes from the send windows.
 */
export class H2RequestTemplate {
  readonly bytes: Buffer;
  readonly dataBytes: number;
  private readonly dataFrameOffset: number;

  constructor(headerBlock: Buffer, body: Buffer) {
    if (headerBlock.length > OUR_MAX_FRAME_SIZE || body.length > OUR_MAX_FRAME_SIZE) {
      throw new Error('request header block and body must each fit one 16 KiB frame');
    }
    this.bytes = Buffer.concat([
      frameHeader(headerBlock.length, FRAME.HEADERS, FLAG_END_HEADERS | (body.length === 0 ? FLAG_END_STREAM : 0), 0),
      headerBlock,
      ...(body.length > 0 ? [frameHeader(body.length, FRAME.DATA, FLAG_END_STREAM, 0), body] : []),
    ]);
    this.dataBytes = body.length;
    this.dataFrameOffset = 9 + headerBlock.length;
  }

  /** A copy with the stream id written into both frames. */
  forStream(streamId: number): Buffer {
    const b = Buffer.allocUnsafe(this.bytes.length);
    this.bytes.copy(b);
    b.writeUInt32BE(streamId, 5);
    if (this.dataBytes > 0) b.writeUInt32BE(streamId, this.dataFrameOffset + 5);
    return b;
  }
}

export class H2ClientConnection {
  readonly socket: net.Socket;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2StreamHandler>();
  private nextStreamId = 1;
  private connected = false;
  private ready = false;
  private closed = false;
  private goawayLastId = -1;
  // Send side (server's limits).
  private sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxStreams = Infinity;
  // Receive side.
  private receivedSinceUpdate = 0;
  // Frame parsing.
  private pending: Buffer | undefined;
  private headerBlockStream = 0;
  private headerBlockEndStream = false;
  private headerBlockParts: Buffer[] = [];
  private readonly fields: Array<[string, string]> = [];
  private readonly collect = (name: string, value: string): void => {
    this.fields.push([name, value]);
  };
  // Writes of one event-loop turn go out together.
  private outbox: Buffer[] = [];
  private flushScheduled = false;

  constructor(
    host: string,
    port: number,
    private readonly events: H2ConnectionEvents = {},
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('connect', () => {
      this.connected = true;
      const settings = Buffer.alloc(12);
      settings.writeUInt16BE(SETTING.ENABLE_PUSH, 0);
      settings.writeUInt32BE(0, 2);
      settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
      settings.writeUInt32BE(MAX_WINDOW, 8);
      const windowUpdate = Buffer.alloc(4);
      windowUpdate.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
      this.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, settings), frame(FRAME.WINDOW_UPDATE, 0, 0, windowUpdate)]));
    });
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (err) => this.teardown(err));
    this.socket.on('close', () => this.teardown(undefined));
  }

  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  get isReady(): boolean {
    return this.ready && !this.closed;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** How many streams may be open at once (the server's MAX_CONCURRENT_STREAMS). */
  get streamLimit(): number {
    return this.peerMaxStreams;
  }

  /** True when a request of `template` can be written now (connection up, stream slot, windows). */
  canSend(template: H2RequestTemplate): boolean {
    return (
      this.connected &&
      !this.closed &&
      this.goawayLastId < 0 &&
      this.nextStreamId < MAX_STREAM_ID &&
      this.streams.size < this.peerMaxStreams &&
      template.dataBytes <= this.sendWindow &&
      template.dataBytes <= this.peerInitialWindow
    );
  }

  /** Opens a stream and writes the request; the caller checked canSend(). Returns the stream id. */
  send(template: H2RequestTemplate, handler: H2StreamHandler): number {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    this.sendWindow -= template.dataBytes;
    this.streams.set(id, handler);
    this.write(template.forStream(id));
    return id;
  }

  /** Cancels a stream (RST_STREAM CANCEL); its handler hears nothing more. */
  cancel(streamId: number): void {
    if (!this.streams.delete(streamId) || this.closed) return;
    const code = Buffer.alloc(4);
    code.writeUInt32BE(H2_CANCEL, 0);
    this.write(frame(FRAME.RST_STREAM, 0, streamId, code));
    this.events.onWritable?.();
  }

  /** Closes the connection; open streams are reset with H2_CONNECTION_LOST. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.socket.destroy();
    this.teardown(undefined);
  }

  private write(bytes: Buffer): void {
    this.outbox.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || this.closed) {
      this.outbox = [];
      return;
    }
    const out = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox);
    this.outbox = [];
    this.socket.write(out);
  };

  private teardown(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox = [];
    const handlers = [...this.streams.values()];
    this.streams.clear();
    for (const h of handlers) h.onReset(H2_CONNECTION_LOST);
    if (!this.socket.destroyed) this.socket.destroy();
    this.events.onClose?.(error);
  }

  private protocolError(message: string): void {
    this.teardown(new Error(`HTTP/2: ${message}`));
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let offset = 0;
    while (!this.closed && buf.length - offset >= 9) {
      const length = buf.readUIntBE(offset, 3);
      if (length > OUR_MAX_FRAME_SIZE) return this.protocolError(`frame of ${length} bytes above the 16 KiB maximum`);
      if (buf.length - offset < 9 + length) break;
      const type = buf[offset + 3]!;
      const flags = buf[offset + 4]!;
      const streamId = buf.readUInt32BE(offset + 5) & 0x7fffffff;
      const start = offset + 9;
      offset = start + length;
      try {
        this.onFrame(type, flags, streamId, buf, start, offset);
      } catch (err) {
        return this.protocolError((err as Error).message);
      }
    }
    if (offset < buf.length) this.pending = buf.subarray(offset);
    if (this.receivedSinceUpdate >= RECEIVE_TOP_UP) {
      const increment = Buffer.alloc(4);
      increment.writeUInt32BE(this.receivedSinceUpdate, 0);
      this.receivedSinceUpdate = 0;
      this.write(frame(FRAME.WINDOW_UPDATE, 0, 0, increment));
    }
  }

  private onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (this.headerBlockStream !== 0 && type !== FRAME.CONTINUATION) throw new Error('expected CONTINUATION');
    switch (type) {
      case FRAME.DATA: {
        this.receivedSinceUpdate += end - start;
        const handler = this.streams.get(streamId);
        if (flags & FLAG_PADDED) end -= buf[start++]!;
        const endStream = (flags & FLAG_END_STREAM) !== 0;
        if (endStream) this.streams.delete(streamId);
        handler?.onData(buf.subarray(start, end), endStream);
        if (endStream && handler) this.events.onWritable?.();
        return;
      }
      case FRAME.HEADERS: {
        if (flags & FLAG_PADDED) end -= buf[start++]!;
        if (flags & FLAG_PRIORITY) start += 5;
        const part = buf.subarray(start, end);
        const endStream = (flags & FLAG_END_STREAM) !== 0;
        if (flags & FLAG_END_HEADERS) {
          this.deliverHeaders(streamId, part, endStream);
        } else {
          this.headerBlockStream = streamId;
          this.headerBlockEndStream = endStream;
          this.headerBlockParts = [Buffer.from(part)];
        }
        return;
      }
      case FRAME.CONTINUATION: {
        if (streamId !== this.headerBlockStream) throw new Error('CONTINUATION on another stream');
        this.headerBlockParts.push(Buffer.from(buf.subarray(start, end)));
        if (flags & FLAG_END_HEADERS) {
          const block = Buffer.concat(this.headerBlockParts);
          const id = this.headerBlockStream;
          this.headerBlockStream = 0;
          this.headerBlockParts = [];
          this.deliverHeaders(id, block, this.headerBlockEndStream);
        }
        return;
      }
      case FRAME.RST_STREAM: {
        const handler = this.streams.get(streamId);
        if (handler) {
          this.streams.delete(streamId);
          handler.onReset(buf.readUInt32BE(start));
          this.events.onWritable?.();
        }
        return;
      }
      case FRAME.SETTINGS: {
        if (flags & FLAG_ACK) return;
        let grew = false;
        for (let p = start; p + 6 <= end; p += 6) {
          const id = buf.readUInt16BE(p);
          const value = buf.readUInt32BE(p + 2);
          if (id === SETTING.MAX_CONCURRENT_STREAMS) {
            grew ||= value > this.peerMaxStreams;
            this.peerMaxStreams = value;
          } else if (id === SETTING.INITIAL_WINDOW_SIZE) {
            grew ||= value > this.peerInitialWindow;
            this.peerInitialWindow = value;
          }
          // HEADER_TABLE_SIZE bounds the server's view of our encoder, which never indexes;
          // MAX_FRAME_SIZE ≥ 16 KiB, and our frames are smaller.
        }
        this.write(frameHeader(0, FRAME.SETTINGS, FLAG_ACK, 0));
        if (!this.ready) {
          this.ready = true;
          this.events.onReady?.();
        }
        if (grew) this.events.onWritable?.();
        return;
      }
      case FRAME.PING: {
        if (!(flags & FLAG_ACK)) this.write(frame(FRAME.PING, FLAG_ACK, 0, Buffer.from(buf.subarray(start, end))));
        return;
      }
      case FRAME.GOAWAY: {
        const lastId = buf.readUInt32BE(start) & 0x7fffffff;
        this.goawayLastId = lastId;
        for (const [id, handler] of [...this.streams]) {
          if (id > lastId) {
            this.streams.delete(id);
            handler.onReset(H2_REFUSED_STREAM);
          }
        }
        return;
      }
      case FRAME.WINDOW_UPDATE: {
        if (streamId !== 0) return; // our streams sent all their DATA when they opened
        this.sendWindow += buf.readUInt32BE(start) & 0x7fffffff;
        this.events.onWritable?.();
        return;
      }
      case FRAME.PUSH_PROMISE:
        throw new Error('PUSH_PROMISE although push is disabled');
      default:
        return; // PRIORITY and unknown frame types are ignored
    }
  }

  private deliverHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    // Decoded even for streams no longer tracked: the dynamic table must stay in step.
    this.fields.length = 0;
    this.decoder.decode(block, this.collect);
    const handler = this.streams.get(streamId);
    // The stream is closed before its owner hears of it, so the owner can reuse the slot at once.
    if (endStream) this.streams.delete(streamId);
    handler?.onHeaders(this.fields, endStream);
    if (endStream && handler) this.events.onWritable?.();
  }
}
