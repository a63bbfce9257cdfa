import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { setupHarness, sh, uid, type Harness } from "./harness.ts";
import { ID_MAP } from "../../../src/host/idmap.ts";

let h: Harness;
beforeAll(() => {
  h = setupHarness();
});
afterAll(async () => {
  await h.cleanup();
});

const runToExit = async (script: string) => {
  const id = uid("iso");
  await h.start(id, sh(script));
  const exit = await h.waitExit(id);
  return { exit, out: h.stdout(id), err: h.stderr(id) };
};

describe("isolation inside the container", () => {
  test("container uid 0 is an unprivileged host uid", async () => {
    const id = uid("uid");
    const { pid } = await h.start(id, ["sleep", "30"]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const uids = status.match(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m)!.slice(1).map(Number);
    const gids = status.match(/^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m)!.slice(1).map(Number);
    expect(uids).toEqual([ID_MAP.hostBase, ID_MAP.hostBase, ID_MAP.hostBase, ID_MAP.hostBase]);
    expect(gids[0]).toBe(ID_MAP.hostBase);
    expect(status).toMatch(/^NoNewPrivs:\s+1/m);
    expect(status).toMatch(/^Seccomp:\s+2/m);
    // and inside it believes it is root
    const x = await h.backend.exec(id, { process: { argv: ["id", "-u"], env: {}, cwd: "/", uid: 0, gid: 0 }, tty: false });
    let out = "";
    x.onStdout((c) => (out += new TextDecoder().decode(c)));
    expect(await x.exited).toBe(0);
    expect(out.trim()).toBe("0");
    await h.backend.stop(id, 100);
  });

  test("only the loopback interface exists", async () => {
    const { exit, out } = await runToExit("ls /sys/class/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    expect(exit.code).toBe(0);
    const names = new Set(out.split(/\s+/).filter(Boolean));
    expect([...names]).toEqual(["lo"]);
  });

  test("connecting to a listener on host 127.0.0.1 fails", async () => {
    let accepted = 0;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open() {
          accepted++;
        },
        data() {},
      },
    });
    try {
      const { exit, out } = await runToExit(`if echo hi | nc -w 2 127.0.0.1 ${server.port}; then echo CONNECTED; else echo FAILED; fi; wget -q -T 2 -O- http://127.0.0.1:${server.port}/ && echo CONNECTED2 || echo FAILED2`);
      expect(exit.code).toBe(0);
      expect(out).toContain("FAILED");
      expect(out).not.toContain("CONNECTED");
      expect(accepted).toBe(0);
    } finally {
      server.stop(true);
    }
  });

  test("mount, unshare -U, writing /proc/sys and mknod are denied", async () => {
    const { out } = await runToExit(
      [
        "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo MOUNT_OK || echo MOUNT_DENIED",
        "unshare -U true 2>/dev/null && echo UNSHARE_OK || echo UNSHARE_DENIED",
        "unshare -n true 2>/dev/null && echo UNSHARE_NET_OK || echo UNSHARE_NET_DENIED",
        "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo PROCSYS_OK || echo PROCSYS_DENIED",
        "mknod /tmp/null c 1 3 2>/dev/null && echo MKNOD_OK || echo MKNOD_DENIED",
        "cat /proc/kcore 2>/dev/null | head -c1 | wc -c",
      ].join("; "),
    );
    expect(out).toContain("MOUNT_DENIED");
    expect(out).toContain("UNSHARE_DENIED");
    expect(out).toContain("UNSHARE_NET_DENIED");
    expect(out).toContain("PROCSYS_DENIED");
    expect(out).toContain("MKNOD_DENIED");
    expect(out).not.toMatch(/_OK/);
    expect(out.trim().split("\n").pop()).toBe("0"); // /proc/kcore is masked
  });

  test("capabilities: Docker's default set without NET_RAW", async () => {
    const { out } = await runToExit("grep CapEff /proc/self/status; ping -c1 -W1 127.0.0.1 >/dev/null 2>&1 && echo PING_OK || echo PING_DENIED");
    const eff = BigInt(`0x${out.match(/CapEff:\s+([0-9a-f]+)/)![1]}`);
    expect(eff & (1n << 13n)).toBe(0n); // CAP_NET_RAW
    expect(eff & (1n << 21n)).toBe(0n); // CAP_SYS_ADMIN
    expect(eff & (1n << 0n)).toBe(1n); // CAP_CHOWN
    expect(out).toContain("PING_DENIED");
  });

  test("hostname, env, cwd and user come from the spec", async () => {
    const id = uid("spec");
    await h.start(id, sh("hostname; echo $FOO; pwd; id -u; id -g"), {
      hostname: "box-1",
      process: { env: { FOO: "bar" }, cwd: "/tmp", uid: 1000, gid: 1000 },
    });
    const exit = await h.waitExit(id);
    expect(exit.code).toBe(0);
    expect(h.stdout(id)).toBe("box-1\nbar\n/tmp\n1000\n1000\n");
  });
});
