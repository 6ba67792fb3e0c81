/** An HTTP forward proxy on 127.0.0.1, like squid in miniature: absolute-URI requests and CONNECT tunnels, each recorded. */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ProxiedCall {
  /** GET, HEAD, CONNECT… */
  method: string;
  /** The absolute URI of a forwarded request, or host:port of a CONNECT. */
  target: string;
  /** The Proxy-Authorization header the client sent, if any. */
  proxyAuthorization?: string;
  /** What the proxy answered itself: a refusal, or 200 for an opened tunnel; undefined when forwarded. */
  status?: number;
}

export interface ForwardProxy {
  url: string;
  host: string;
  seen: ProxiedCall[];
  close(): Promise<void>;
}

export interface ForwardProxyOptions {
  /** Refuse a request with this status (403 policy, 407 login, 502 upstream down) instead of forwarding it. */
  refuse?: (call: ProxiedCall) => number | undefined;
}

export async function startForwardProxy(opts: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const seen: ProxiedCall[] = [];
  const sockets = new Set<Socket>();
  const record = (req: IncomingMessage, target: string): ProxiedCall => {
    const auth = req.headers['proxy-authorization'];
    const call: ProxiedCall = { method: req.method ?? 'GET', target, ...(auth ? { proxyAuthorization: auth } : {}) };
    seen.push(call);
    return call;
  };

  const server = createServer((req, res) => {
    const call = record(req, req.url ?? '');
    const refusal = opts.refuse?.(call);
    let target: URL | undefined;
    try {
      target = new URL(req.url ?? '');
    } catch {
      // an origin-form request: this is a proxy, not a server
    }
    if (refusal || !target || target.protocol !== 'http:') {
      call.status = refusal ?? 400;
      res.writeHead(call.status, call.status === 407 ? { 'proxy-authenticate': 'Basic realm="test-proxy"' } : {}).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: `${target.pathname}${target.search}`, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const call = record(req, req.url ?? '');
    const refusal = opts.refuse?.(call);
    if (refusal) {
      call.status = refusal;
      client.end(`HTTP/1.1 ${refusal} Refused\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '', () => {
      call.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
