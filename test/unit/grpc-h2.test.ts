// The gRPC driver's HTTP/2 client against node:http2 (nghttp2) on 127.0.0.1: header blocks
// as nghttp2 encodes them (dynamic table, Huffman, eviction), DATA beyond the default
// windows, trailers, RST_STREAM, the server's stream limit, and a lost connection.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { H2ClientConnection, H2RequestTemplate, H2_CONNECTION_LOST, type H2StreamHandler } from '../../harness/load/grpcH2.ts';
import { encodeHeaderBlock } from '../../harness/load/grpcHpack.ts';

interface Answer {
  headers: Array<Array<[string, string]>>;
  bytes: number;
  reset?: number;
}

/** Collects one stream's answer. */
function collector(): { handler: H2StreamHandler; done: Promise<Answer> } {
  const answer: Answer = { headers: [], bytes: 0 };
  let resolve!: (a: Answer) => void;
  const done = new Promise<Answer>((r) => (resolve = r));
  const handler: H2StreamHandler = {
    onHeaders(fields, endStream) {
      answer.headers.push(fields.map(([n, v]) => [n, v]));
      if (endStream) resolve(answer);
    },
    onData(chunk, endStream) {
      answer.bytes += chunk.length;
      if (endStream) resolve(answer);
    },
    onReset(code) {
      answer.reset = code;
      resolve(answer);
    },
  };
  return { handler, done };
}

function connect(port: number): Promise<H2ClientConnection> {
  return new Promise((resolve, reject) => {
    const c: H2ClientConnection = new H2ClientConnection('127.0.0.1', port, {
      onReady: () => resolve(c),
      onClose: (err) => reject(err ?? new Error('closed before ready')),
    });
  });
}

function template(path: string, body = Buffer.from('hello')): H2RequestTemplate {
  return new H2RequestTemplate(
    encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'test'], ['te', 'trailers']]),
    body,
  );
}

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('').trim();

describe('HTTP/2 client against nghttp2', () => {
  let server: http2.Http2Server;
  let port: number;
  const received: Buffer[] = [];

  before(async () => {
    server = http2.createServer({ settings: { maxConcurrentStreams: 3 } });
    server.on('stream', (stream, headers) => {
      const parts: Buffer[] = [];
      stream.on('error', () => {}); // the resets this test asks for, and the lost connection
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => {
        received.push(Buffer.concat(parts));
        const path = headers[':path'];
        const n = Number(new URL(`http://x${path}`).searchParams.get('n') ?? 0);
        if (path?.startsWith('/reset')) {
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        }
        if (path?.startsWith('/hang')) return;
        if (path?.startsWith('/trailers-only')) {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13' }, { endStream: true });
          return;
        }
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'x-printable': PRINTABLE, 'x-n': String(n), 'x-big': 'b'.repeat(n * 10) },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `done ${n}` }));
        stream.end(Buffer.alloc(n * 1000, 'x'));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('headers, body and trailers of many responses decode as sent (dynamic table, Huffman, eviction)', async () => {
    const c = await connect(port);
    try {
      assert.equal(c.streamLimit, 3);
      for (let n = 0; n < 120; n += 7) {
        const { handler, done } = collector();
        assert.ok(c.canSend(template(`/ok?n=${n}`)));
        c.send(template(`/ok?n=${n}`), handler);
        const answer = await done;
        assert.equal(answer.bytes, n * 1000);
        const [head, trailers] = answer.headers;
        const get = (fields: Array<[string, string]> | undefined, name: string) => fields?.find(([k]) => k === name)?.[1];
        assert.equal(get(head, ':status'), '200');
        assert.equal(get(head, 'content-type'), 'application/grpc');
        assert.equal(get(head, 'x-printable'), PRINTABLE);
        assert.equal(get(head, 'x-n'), String(n));
        assert.equal(get(head, 'x-big'), 'b'.repeat(n * 10));
        assert.deepEqual(trailers, [['grpc-status', '0'], ['grpc-message', `done ${n}`]]);
      }
      assert.deepEqual(received.at(-1), Buffer.from('hello'));
    } finally {
      c.close();
    }
  });

  test('more than the default 64 KiB windows in flight at once, up to the stream limit', async () => {
    const c = await connect(port);
    try {
      // 3 streams (the server's limit) of ~1 MB each, then 3 more as slots free up.
      const answers: Promise<Answer>[] = [];
      const queue = Array.from({ length: 6 }, () => template('/ok?n=1000'));
      const pump = (): void => {
        while (queue.length > 0 && c.canSend(queue[0]!)) {
          const { handler, done } = collector();
          c.send(queue.shift()!, handler);
          answers.push(done);
        }
      };
      pump();
      assert.equal(c.openStreams, 3);
      while (answers.length < 6) {
        await answers[answers.length - 1];
        pump();
      }
      for (const a of await Promise.all(answers)) assert.equal(a.bytes, 1_000_000);
    } finally {
      c.close();
    }
  });

  test('trailers-only answers, RST_STREAM, and streams of a lost connection', async () => {
    const c = await connect(port);
    const only = collector();
    c.send(template('/trailers-only'), only.handler);
    const [head] = (await only.done).headers;
    assert.deepEqual(head?.filter(([k]) => k.startsWith('grpc') || k === ':status'), [[':status', '200'], ['grpc-status', '13']]);
    const reset = collector();
    c.send(template('/reset'), reset.handler);
    assert.equal((await reset.done).reset, http2.constants.NGHTTP2_INTERNAL_ERROR);
    const hung = collector();
    c.send(template('/hang'), hung.handler);
    await new Promise((r) => setTimeout(r, 50));
    c.socket.destroy(); // the peer vanishes with the stream open
    assert.equal((await hung.done).reset, H2_CONNECTION_LOST);
    assert.equal(c.isConnected, false);
    assert.equal(c.canSend(template('/ok')), false);
  });
});
