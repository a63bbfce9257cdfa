import type { Socket, TCPSocketListener } from "bun";

// Ingress to a sandbox's declared ports. The sandbox's network namespace has only `lo`, so
// nothing inside can reach the host; the host reaches in through a relay the backend runs
// inside that namespace (a unix socket per port, see Backend.openPort). Here the server
// owns a loopback TCP listener per port and splices each accepted connection to that socket.

interface Pipe {
  peer?: Socket<Pipe>;
  pending: Uint8Array[];
}

const flush = (s: Socket<Pipe>) => {
  const d = s.data;
  while (d.pending.length) {
    const chunk = d.pending[0] as Uint8Array;
    const n = s.write(chunk);
    if (n < chunk.length) {
      d.pending[0] = chunk.subarray(n);
      return;
    }
    d.pending.shift();
  }
};

const send = (to: Socket<Pipe> | undefined, from: Socket<Pipe>, chunk: Uint8Array) => {
  if (!to) {
    from.data.pending.push(new Uint8Array(chunk));
    return;
  }
  if (to.data.pending.length) {
    to.data.pending.push(new Uint8Array(chunk));
    return;
  }
  const n = to.write(chunk);
  if (n < chunk.length) to.data.pending.push(new Uint8Array(chunk.subarray(n)));
};

export class EndpointProxy {
  readonly #listeners = new Map<string, TCPSocketListener<Pipe>[]>();

  constructor(private readonly host = "127.0.0.1") {}

  /** Listen on a free loopback port relaying to `socketPath`; returns the host port. */
  async open(sandboxId: string, socketPath: string): Promise<number> {
    const listener = Bun.listen<Pipe>({
      hostname: this.host,
      port: 0,
      socket: {
        open: (client) => {
          client.data = { pending: [] };
          Bun.connect<Pipe>({
            unix: socketPath,
            socket: {
              open: (upstream) => {
                upstream.data = { peer: client, pending: client.data.pending.splice(0) };
                client.data.peer = upstream;
                flush(upstream);
              },
              data: (upstream, chunk) => send(upstream.data.peer, upstream, chunk),
              drain: (upstream) => flush(upstream),
              close: (upstream) => void upstream.data.peer?.end(),
              error: (upstream) => void upstream.data.peer?.end(),
            },
          }).catch(() => client.end());
        },
        data: (client, chunk) => send(client.data.peer, client, chunk),
        drain: (client) => flush(client),
        close: (client) => void client.data.peer?.end(),
        error: (client) => void client.data.peer?.end(),
      },
    });
    const list = this.#listeners.get(sandboxId) ?? [];
    list.push(listener);
    this.#listeners.set(sandboxId, list);
    return listener.port;
  }

  close(sandboxId: string): void {
    for (const l of this.#listeners.get(sandboxId) ?? []) l.stop(true);
    this.#listeners.delete(sandboxId);
  }

  closeAll(): void {
    for (const id of [...this.#listeners.keys()]) this.close(id);
  }
}
