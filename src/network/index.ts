// Per-sandbox networking.
//
// Egress: deny by default. Every sandbox gets its own, new network namespace (created by
// libcrun from the `network` namespace entry below, no path): the only interface in it is
// `lo`, which libcrun brings up. There is no veth, no route, no DNS: no packet the sandbox
// sends can leave it, and nothing on the host (including 127.0.0.1 listeners) is reachable.
//
// Ingress to declared ports (how #5's endpoints reach a sandbox) — never by giving the sandbox
// an interface:
//   1. `Backend.openPort(id, port)` starts a port relay (`nimbus-monitor relay`, relay.c): it
//      binds a unix socket in the host filesystem at <sandboxDir>/port-<port>.sock, then joins
//      only the container's network namespace (setns CLONE_NEWNET) and, per accepted
//      connection, connects to 127.0.0.1:<port> inside the sandbox and copies bytes both ways.
//   2. The server owns the public side: it listens on 127.0.0.1:<hostPort> (or whatever the
//      endpoint config says) and pipes each accepted TCP connection into that unix socket.
//   So connections are only ever initiated host → sandbox, the sandbox still has only `lo`,
//   and the relay dies with the container (it watches the init's pidfd).
// Later egress policies (allow-lists) would add a veth with nftables rules in this folder; the
// default stays "no interface but lo".

export interface NamespaceEntry {
  type: "network";
  path?: string;
}

/** The OCI namespace entry for a sandbox: a fresh netns with loopback only. */
export const sandboxNetworkNamespace = (_id: string): NamespaceEntry => ({ type: "network" });

export const portSocketName = (port: number): string => `port-${port}.sock`;
