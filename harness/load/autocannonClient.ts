// autocannon's HTTP/1.1 client (lib/httpClient.js: connection handling, http-parser-js
// parsing, request building), typed for what the driver uses. autocannon ships no types
// for it, and its package has no `exports`, so the file is required by path.
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export interface AutocannonClientOptions {
  hostname: string;
  port: number;
  path: string;
  method: 'GET';
  protocol: 'http:';
  headers: Record<string, string>;
  /** Seconds (autocannon's unit); fractions allowed. */
  timeout: number;
  /** Called from the constructor before the first connection is opened. */
  setupClient?: (client: AutocannonClient) => void;
}

/** http-parser-js's HTTPParser callbacks are numeric slots on the parser object. */
export interface HttpParserCallbacks {
  [slot: number]: (...args: never[]) => unknown;
  constructor: { kOnBody: number; kOnHeaders: number; kOnHeadersComplete: number };
}

/**
 * Events: 'response' (statusCode, bytes, durationMs — hrtime from just before the
 * request was written), 'connError' (error), 'timeout'.
 */
export interface AutocannonClient extends EventEmitter {
  conn: Socket;
  parser: HttpParserCallbacks;
  requestIterator: { resetContext(): void };
  pipelinedRequests: { size(): number; clear(): void; setHeaders(info: unknown): void };
  destroyed: boolean;
  reqsMade: number;
  /** Writes the current request (no rate or count limit set here, so it always writes). */
  _doRequest(): void;
  /** Opens a new socket and calls _doRequest once (pipelining 1). */
  _connect(): void;
  /** Destroys the socket and clears the in-flight queue (timeouts, final destroy). */
  _destroyConnection(): void;
  destroy(): void;
}

export type AutocannonClientConstructor = new (options: AutocannonClientOptions) => AutocannonClient;

const require = createRequire(import.meta.url);

export const AutocannonHttpClient = require('autocannon/lib/httpClient.js') as AutocannonClientConstructor;

export const AUTOCANNON_VERSION: string = (require('autocannon/package.json') as { version: string }).version;
