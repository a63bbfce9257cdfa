// A minimal client for the attach protocol (binary frames, leading channel byte), for tests.
export interface AttachResult {
  stdout: string;
  stderr: string;
  controls: any[];
  closeCode: number;
  closeReason: string;
}

export interface Attach {
  ws: WebSocket;
  result: Promise<AttachResult>;
  stdout: () => string;
  controls: any[];
  send(channel: number, data: string | object): void;
  opened: Promise<void>;
}

export const attach = (url: string, token: string | null, query: string): Attach => {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}?${query}`, token ? ({ headers: { authorization: `Bearer ${token}` } } as never) : undefined);
  ws.binaryType = "arraybuffer";
  let stdout = "";
  let stderr = "";
  const controls: any[] = [];
  const dec = new TextDecoder();
  let openedResolve!: () => void;
  const opened = new Promise<void>((r) => (openedResolve = r));
  const result = new Promise<AttachResult>((resolve) => {
    ws.onmessage = (ev) => {
      const b = new Uint8Array(ev.data as ArrayBuffer);
      const payload = dec.decode(b.subarray(1));
      if (b[0] === 1) stdout += payload;
      else if (b[0] === 2) stderr += payload;
      else if (b[0] === 3) {
        const msg = JSON.parse(payload);
        controls.push(msg);
        if (msg.type === "attached") openedResolve();
      }
    };
    ws.onclose = (ev) => resolve({ stdout, stderr, controls, closeCode: ev.code, closeReason: ev.reason });
  });
  return {
    ws,
    result,
    controls,
    opened,
    stdout: () => stdout,
    send(channel, data) {
      const body = new TextEncoder().encode(typeof data === "string" ? data : JSON.stringify(data));
      const f = new Uint8Array(body.length + 1);
      f[0] = channel;
      f.set(body, 1);
      ws.send(f);
    },
  };
};

export const until = async (cond: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
};
