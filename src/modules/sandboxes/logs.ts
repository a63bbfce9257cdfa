import { open, stat } from "node:fs/promises";

// Streams a sandbox's output log: the last `tail` lines, then (with follow) whatever is
// appended until the sandbox stops and the file has been read to its end.

const readRange = async (path: string, start: number, end: number): Promise<Uint8Array> => {
  if (end <= start) return new Uint8Array();
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(end - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
};

const sizeOf = async (path: string): Promise<number> => (await stat(path).catch(() => ({ size: 0 }))).size;

/** Byte offset where the last `lines` lines of the file begin. */
const tailOffset = async (path: string, lines: number): Promise<number> => {
  const size = await sizeOf(path);
  if (lines <= 0) return size;
  let pos = size;
  let seen = 0;
  const CHUNK = 64 * 1024;
  while (pos > 0) {
    const start = Math.max(0, pos - CHUNK);
    const buf = await readRange(path, start, pos);
    for (let i = buf.length - 1; i >= 0; i--) {
      // a trailing newline ends the last line rather than starting a new one
      if (buf[i] === 10 && !(start + i === size - 1)) {
        seen++;
        if (seen === lines) return start + i + 1;
      }
    }
    pos = start;
  }
  return 0;
};

export const logStream = async (path: string, opts: { tail?: number; follow: boolean; finished: () => boolean }): Promise<ReadableStream<Uint8Array>> => {
  let offset = opts.tail === undefined ? 0 : await tailOffset(path, opts.tail);
  let closed = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (closed) return;
        const size = await sizeOf(path);
        if (size > offset) {
          const end = Math.min(size, offset + 256 * 1024);
          const chunk = await readRange(path, offset, end);
          offset += chunk.length;
          controller.enqueue(chunk);
          return;
        }
        if (!opts.follow || opts.finished()) {
          // one last look: output written just before the exit
          if ((await sizeOf(path)) > offset) continue;
          controller.close();
          return;
        }
        await Bun.sleep(100);
      }
    },
    cancel() {
      closed = true;
    },
  });
};

/** The same stream as Server-Sent Events: one `output` event per chunk, `{stream, text}` JSON, then `end`. */
export const asEventStream = (source: ReadableStream<Uint8Array>, stream: string): ReadableStream<Uint8Array> => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(enc.encode(`event: output\ndata: ${JSON.stringify({ stream, text: dec.decode(chunk, { stream: true }) })}\n\n`));
      },
      flush(controller) {
        controller.enqueue(enc.encode("event: end\ndata: {}\n\n"));
      },
    }),
  );
};
