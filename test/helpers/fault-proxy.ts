/** A proxy on 127.0.0.1 in front of the real registry that alters chosen answers, for faults a registry will not produce. */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** Replace the body (same status, Content-Length adjusted unless keepLength). */
  | { kind: 'body'; body: (original: Buffer) => Buffer; keepLength?: boolean }
  /** Override response headers. */
  | { kind: 'headers'; headers: Record<string, string> }
  /** Answer with this status and body instead of asking the registry. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Send this many bytes of the real body, then cut the connection. */
  | { kind: 'reset'; afterBytes: number }
  /** Send this many bytes of the real body, then stop sending without closing. */
  | { kind: 'stall'; afterBytes: number }
  /** Redirect to this URL. */
  | { kind: 'redirect'; location: string }
  /** Wait this long, then pass the real answer through unaltered. */
  | { kind: 'delay'; ms: number }
  /** Drop the request's Range header, so the registry answers 200 with the whole blob. */
  | { kind: 'ignoreRange' };

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Zero-based count of earlier requests with this method and path. */
  attempt: number;
}

export interface FaultProxy {
  host: string;
  url: string;
  seen: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startFaultProxy(targetUrl: string, rule: (req: ProxiedRequest) => Fault | undefined): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const attempt = seen.filter((s) => s.method === method && s.path === path).length;
    const info: ProxiedRequest = { method, path, headers: req.headers, attempt };
    seen.push(info);
    const chosen = rule(info);
    if (chosen?.kind === 'delay') {
      setTimeout(() => forward(req, res, path, method, undefined), chosen.ms);
      return;
    }
    forward(req, res, path, method, chosen);
  });
  const forward = (req: IncomingMessage, res: ServerResponse, path: string, method: string, fault: Exclude<Fault, { kind: 'delay' }> | undefined): void => {
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(fault.body ?? '{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      return;
    }
    if (fault?.kind === 'redirect') {
      res.writeHead(307, { location: fault.location });
      res.end();
      return;
    }
    const headers = { ...req.headers, host: target.host };
    if (fault?.kind === 'ignoreRange') delete headers.range;
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method, path, headers },
      (up) => {
        if (!fault || fault.kind === 'ignoreRange') {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const original = Buffer.concat(chunks);
          const headers: IncomingHttpHeaders = { ...up.headers };
          if (fault.kind === 'headers') {
            res.writeHead(up.statusCode ?? 502, { ...headers, ...fault.headers });
            res.end(original);
          } else if (fault.kind === 'body') {
            const body = fault.body(original);
            if (!fault.keepLength) headers['content-length'] = String(body.byteLength);
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(body);
          } else if (fault.kind === 'reset') {
            res.writeHead(up.statusCode ?? 502, headers);
            res.write(original.subarray(0, fault.afterBytes), () => res.socket?.destroy());
          } else {
            res.writeHead(up.statusCode ?? 502, headers);
            res.write(original.subarray(0, fault.afterBytes));
          }
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
