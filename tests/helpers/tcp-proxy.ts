import net from 'node:net';

/**
 * A TCP proxy in front of a Redis that goes away, as a crashed Redis does, at the moment a client sends a chosen
 * command: the failure lands between two commands of one request, where stopping Redis itself would only hit by
 * luck of timing.
 */
export interface VanishingProxy {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /**
   * From now on, the first chunk a client sends that `matches` is dropped, every connection is cut and the port
   * refuses new ones. Resolves once that happened.
   */
  vanishAt(matches: (chunk: string) => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startVanishingProxy(redisUrl: string): Promise<VanishingProxy> {
  const target = new URL(redisUrl);
  const sockets = new Set<net.Socket>();
  let trigger: ((chunk: string) => boolean) | undefined;
  let vanished: () => void = () => {};

  const vanish = () => {
    trigger = undefined;
    server.close();
    for (const socket of sockets) socket.destroy();
    vanished();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.on('data', (chunk: Buffer) => {
      if (trigger?.(chunk.toString('latin1'))) vanish();
      else upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `redis://127.0.0.1:${port}`,
    vanishAt: (matches) =>
      new Promise<void>((resolve) => {
        trigger = matches;
        vanished = resolve;
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
