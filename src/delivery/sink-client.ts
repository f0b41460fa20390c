// The one HTTP client that talks to customers' sinks. Every request is bounded: a deadline for the
// whole exchange, a cap on how much of the response is read, no redirects followed (a 3xx is a
// failed delivery, not a new destination), and sockets only to addresses the sink policy allows —
// checked on the resolved address of each connection, not just when the subscription was made.
import http from 'node:http';
import https from 'node:https';
import { guardedLookup } from '../lib/outbound.js';
import { checkSinkUrl, type SinkPolicy } from './sink-url.js';

export interface SinkClientOptions {
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface SinkResponse {
  status: number;
}

/** Sends requests to sinks; `send` resolves with the status or rejects with a reason safe to show. */
export interface SinkTransport {
  send(url: string, headers: Record<string, string | number>, body: string): Promise<SinkResponse>;
  close(): void;
}

export class SinkClient implements SinkTransport {
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;

  constructor(
    private readonly policy: SinkPolicy,
    private readonly options: SinkClientOptions,
  ) {
    const lookup = guardedLookup(policy);
    const agentOptions = { keepAlive: true, maxSockets: 8, lookup } as http.AgentOptions;
    this.#httpAgent = new http.Agent(agentOptions);
    this.#httpsAgent = new https.Agent(agentOptions);
  }

  send(url: string, headers: Record<string, string | number>, body: string): Promise<SinkResponse> {
    let target: URL;
    try {
      target = checkSinkUrl(url, this.policy); // the policy may have changed since the subscription
    } catch (error) {
      return Promise.reject(new Error(`sink URL ${(error as Error).message}`));
    }
    const secure = target.protocol === 'https:';
    return new Promise<SinkResponse>((resolve, reject) => {
      const request = (secure ? https : http).request(target, {
        method: 'POST',
        agent: secure ? this.#httpsAgent : this.#httpAgent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body), 'user-agent': 'palisade-events/1' },
      });
      const deadline = setTimeout(() => {
        request.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      request.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(deadline);
        reject(new Error(describe(error)));
      });
      request.on('response', (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // The status is all that matters: a sink that keeps talking is cut off, not buffered.
          if (read > this.options.maxResponseBytes) response.destroy();
        });
        const finish = () => {
          clearTimeout(deadline);
          resolve({ status: response.statusCode ?? 0 });
        };
        response.on('end', finish);
        response.on('close', finish);
        response.on('error', finish);
      });
      request.end(body);
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

function describe(error: NodeJS.ErrnoException): string {
  if (error.code === 'EOUTBOUNDREFUSED') return error.message;
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return 'sink host does not resolve';
  if (error.code === 'ECONNRESET') return 'connection reset';
  if (error.code?.startsWith('ERR_TLS') || error.code?.includes('CERT')) return `TLS failed (${error.code})`;
  return error.message.slice(0, 300);
}
