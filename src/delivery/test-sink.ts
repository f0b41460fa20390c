// Test helper: a real HTTP receiver on loopback that records what Palisade delivers and answers
// with whatever status the test chooses for each request (to play a sink that is down for a while).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** The status the sink answered. */
  status: number;
  at: number;
}

export interface TestSink {
  url: string;
  received: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[];
  /** Decides each answer; default 204. */
  respond: (request: { headers: IncomingHttpHeaders; body: string }) => number;
  close(): Promise<void>;
}

export async function startTestSink(path = '/hooks/palisade'): Promise<TestSink> {
  const sink: TestSink = {
    url: '',
    received: [],
    accepted: () => sink.received.filter((r) => r.status >= 200 && r.status < 300),
    respond: () => 204,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = sink.respond({ headers: request.headers, body });
      sink.received.push({ headers: request.headers, body, status, at: Date.now() });
      response.writeHead(status).end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return sink;
}
